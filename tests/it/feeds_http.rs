//! The HTTP contract of SPEC §4: content types, validators, conditional GET, HEAD, gzip and br
//! negotiation, caching headers, 404s, the OPML list and the index page.

use crate::common;

use std::io::Read;

use common::feeds::get;
use reqwest::{StatusCode, header};

async fn with_fixture(app: &common::TestApp) {
    let resp = app
        .put_article("news/qinghai-green-compute", &common::fixture_article())
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let ok = common::feeds::eventually(std::time::Duration::from_secs(5), || {
        common::feeds::feed_contains(app, "/feeds/news.rss", "qinghai-green-compute")
    })
    .await;
    assert!(ok, "fixture never reached the feed");
    // A new document is served in identity at once and compressed right after.
    let compressed = common::feeds::eventually(std::time::Duration::from_secs(5), || async {
        get(app, "/feeds/news.rss", &[("accept-encoding", "br")])
            .await
            .headers()
            .contains_key(header::CONTENT_ENCODING)
    })
    .await;
    assert!(compressed, "the compressed forms never arrived");
}

on_both_backends! {
    async fn feeds_answer_with_their_content_type_validators_and_cache_headers(app) {
        with_fixture(&app).await;
        for (path, ctype) in [
            ("/feeds/news.rss", "application/rss+xml; charset=utf-8"),
            ("/feeds/news.atom", "application/atom+xml; charset=utf-8"),
            ("/feeds/news.json", "application/feed+json; charset=utf-8"),
            ("/feeds/all.rss", "application/rss+xml; charset=utf-8"),
            ("/feeds.opml", "text/x-opml; charset=utf-8"),
            ("/", "text/html; charset=utf-8"),
        ] {
            let resp = get(&app, path, &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let h = resp.headers();
            assert_eq!(h[header::CONTENT_TYPE], ctype, "{path}");
            assert!(h[header::ETAG].to_str().unwrap().starts_with('"'), "{path}: strong ETag");
            assert!(httpdate::parse_http_date(h[header::LAST_MODIFIED].to_str().unwrap()).is_ok(), "{path}");
            assert_eq!(h[header::CACHE_CONTROL], "public, max-age=300", "{path}");
            // The front door also comes in the visitor's language.
            let vary = if path == "/" { "Accept-Encoding, Accept-Language" } else { "Accept-Encoding" };
            assert_eq!(h[header::VARY], vary, "{path}");
            assert!(h.get(header::CONTENT_ENCODING).is_none(), "{path}: identity without Accept-Encoding");
        }
    }

    async fn matching_validators_answer_304_and_others_200(app) {
        with_fixture(&app).await;
        let first = get(&app, "/feeds/news.atom", &[]).await;
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let lm = first.headers()[header::LAST_MODIFIED].to_str().unwrap().to_owned();
        let opaque = etag.trim_matches('"').to_owned();
        let later = httpdate::fmt_http_date(httpdate::parse_http_date(&lm).unwrap() + std::time::Duration::from_secs(60));
        let earlier = httpdate::fmt_http_date(httpdate::parse_http_date(&lm).unwrap() - std::time::Duration::from_secs(1));
        let weak = format!("W/{etag}");
        let list = format!("\"nope\", {etag}");
        let gzip_tag = format!("\"{opaque}-gzip\"");
        for (headers, want) in [
            (vec![("if-none-match", etag.as_str())], StatusCode::NOT_MODIFIED),
            (vec![("if-none-match", weak.as_str())], StatusCode::NOT_MODIFIED),
            (vec![("if-none-match", list.as_str())], StatusCode::NOT_MODIFIED),
            (vec![("if-none-match", "*")], StatusCode::NOT_MODIFIED),
            (vec![("if-none-match", gzip_tag.as_str())], StatusCode::NOT_MODIFIED),
            (vec![("if-none-match", "\"nope\"")], StatusCode::OK),
            (vec![("if-modified-since", lm.as_str())], StatusCode::NOT_MODIFIED),
            (vec![("if-modified-since", later.as_str())], StatusCode::NOT_MODIFIED),
            (vec![("if-modified-since", earlier.as_str())], StatusCode::OK),
            (vec![("if-modified-since", "not a date")], StatusCode::OK),
            // If-None-Match decides alone when present.
            (vec![("if-none-match", "\"nope\""), ("if-modified-since", later.as_str())], StatusCode::OK),
        ] {
            let resp = get(&app, "/feeds/news.atom", &headers).await;
            assert_eq!(resp.status(), want, "{headers:?}");
            assert_eq!(resp.headers()[header::ETAG], etag.as_str(), "{headers:?}");
            assert_eq!(resp.headers()[header::VARY], "Accept-Encoding");
            assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, max-age=300");
            let body = resp.bytes().await.unwrap();
            assert_eq!(body.is_empty(), want == StatusCode::NOT_MODIFIED, "{headers:?}");
        }
        // An If-None-Match that cannot be read (non-ASCII) is still present: it matches
        // nothing, and If-Modified-Since is not consulted (RFC 9110 §13.1.3).
        let resp = app
            .client
            .get(app.url("/feeds/news.atom"))
            .header("if-none-match", header::HeaderValue::from_bytes("\"标签\"".as_bytes()).unwrap())
            .header("if-modified-since", later.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    async fn a_changed_feed_gets_a_new_etag_and_no_longer_matches(app) {
        with_fixture(&app).await;
        let etag = get(&app, "/feeds/news.rss", &[]).await.headers()[header::ETAG].to_str().unwrap().to_owned();
        let mut body = common::fixture_article();
        body["title"] = "新标题".into();
        app.put_article("news/qinghai-green-compute", &body).await;
        let changed = common::feeds::eventually(std::time::Duration::from_secs(5), || async {
            get(&app, "/feeds/news.rss", &[("if-none-match", etag.as_str())]).await.status() == StatusCode::OK
        }).await;
        assert!(changed);
        let resp = get(&app, "/feeds/news.rss", &[]).await;
        assert_ne!(resp.headers()[header::ETAG], etag.as_str());
        assert!(resp.text().await.unwrap().contains("新标题"));
    }

    async fn head_sends_the_headers_of_get_without_a_body(app) {
        with_fixture(&app).await;
        let got = get(&app, "/feeds/news.json", &[]).await;
        let (status, headers) = (got.status(), got.headers().clone());
        let len = got.bytes().await.unwrap().len();
        let head = common::feeds::raw_client().head(app.url("/feeds/news.json")).send().await.unwrap();
        assert_eq!(head.status(), status);
        for h in [header::CONTENT_TYPE, header::ETAG, header::LAST_MODIFIED, header::CACHE_CONTROL, header::VARY] {
            assert_eq!(head.headers()[&h], headers[&h], "{h}");
        }
        assert_eq!(head.headers()[header::CONTENT_LENGTH], len.to_string().as_str());
        assert!(head.bytes().await.unwrap().is_empty());
        // A 304 carries no Content-Length (RFC 9110 §8.6 would allow the 200's, never 0), over
        // HTTP/1.1 and HTTP/1.0, HEAD and GET alike.
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        for method in ["HEAD", "GET"] {
            for version in ["HTTP/1.1", "HTTP/1.0"] {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
                let req = format!("{method} /feeds/news.json {version}\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n");
                s.write_all(req.as_bytes()).await.unwrap();
                let mut answer = Vec::new();
                tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut answer)).await.unwrap().unwrap();
                let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
                assert!(answer.starts_with(&format!("{} 304", version.to_ascii_lowercase())), "{answer}");
                assert!(!answer.contains("content-length"), "{method} {version}: {answer}");
                assert!(answer.ends_with("\r\n\r\n"), "{method} {version}: a body after the head: {answer}");
            }
        }
    }

    async fn gzip_and_br_follow_accept_encoding_and_decode_to_the_same_feed(app) {
        with_fixture(&app).await;
        let plain = get(&app, "/feeds/news.rss", &[]).await;
        let plain_etag = plain.headers()[header::ETAG].to_str().unwrap().to_owned();
        let plain = plain.bytes().await.unwrap();
        for (accept, coding) in [("gzip", "gzip"), ("br", "br"), ("gzip, deflate, br", "br"), ("br;q=0.1, gzip", "gzip")] {
            let resp = get(&app, "/feeds/news.rss", &[("accept-encoding", accept)]).await;
            assert_eq!(resp.headers()[header::CONTENT_ENCODING], coding, "{accept}");
            assert_eq!(resp.headers()[header::VARY], "Accept-Encoding");
            let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
            assert_eq!(etag, format!("{}-{coding}\"", plain_etag.trim_end_matches('"')), "each coding has its own tag");
            let bytes = resp.bytes().await.unwrap();
            assert!(bytes.len() < plain.len(), "{accept}: {} of {} bytes", bytes.len(), plain.len());
            let mut decoded = Vec::new();
            match coding {
                "gzip" => flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut decoded).unwrap(),
                _ => brotli::Decompressor::new(&bytes[..], 4096).read_to_end(&mut decoded).unwrap(),
            };
            assert_eq!(decoded, plain, "{accept}");
            // A client holding this coding's tag gets 304 too.
            let again = get(&app, "/feeds/news.rss", &[("accept-encoding", accept), ("if-none-match", etag.as_str())]).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        }
        let refused = get(&app, "/feeds/news.rss", &[("accept-encoding", "gzip;q=0, br;q=0")]).await;
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
    }

    async fn unknown_sections_and_formats_are_404(app) {
        for path in ["/feeds/nope.rss", "/feeds/news.xml", "/feeds/news", "/feeds/.rss", "/feeds/news.rss.gz", "/feeds/NEWS.rss", "/feeds/", "/feeds.opml/x"] {
            let resp = get(&app, path, &[]).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let post = app.client.post(app.url("/feeds/news.rss")).send().await.unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    async fn opml_lists_one_atom_feed_per_section_each_read_cleanly_by_feedparser(app) {
        with_fixture(&app).await;
        let opml = get(&app, "/feeds.opml", &[]).await.text().await.unwrap();
        let doc = roxmltree::Document::parse(&opml).unwrap();
        let feeds: Vec<roxmltree::Node> = doc.descendants().filter(|n| n.attribute("xmlUrl").is_some()).collect();
        let urls: Vec<&str> = feeds.iter().map(|n| n.attribute("xmlUrl").unwrap()).collect();
        // One per section, in display order: no RSS or JSON twin, no `all` repeating them.
        assert_eq!(urls, ["news", "notices", "grassroots", "about"].map(|s| format!("http://feeds.example.test/feeds/{s}.atom")));
        let mut titles = std::collections::HashSet::new();
        for outline in feeds {
            assert_eq!(outline.attribute("type"), Some("rss"));
            assert_eq!(outline.attribute("htmlUrl"), Some("http://feeds.example.test/"));
            let title = outline.attribute("title").unwrap();
            assert_eq!(outline.attribute("text"), Some(title));
            assert!(titles.insert(title), "duplicate title {title}");
            // What a reader importing the list then fetches, and how feedparser reads it.
            let path = outline.attribute("xmlUrl").unwrap().trim_start_matches("http://feeds.example.test");
            let body = get(&app, path, &[]).await.bytes().await.unwrap();
            let fp = common::feeds::feedparser(&body);
            assert_eq!(fp["bozo"], 0, "{path}: {}", fp["exception"]);
            assert_eq!(fp["version"], "atom10", "{path}");
            assert_eq!(fp["title"], title, "{path}: the list and the feed name it alike");
        }
        assert!(titles.contains("青海省总工会 - 工会要闻"), "{titles:?}");
    }

    async fn the_index_page_cannot_be_framed_by_another_site(app) {
        // Its subscribe form must not be clickjackable: the same protections as the
        // subscription pages, on a 200 and on a 304 alike.
        let resp = get(&app, "/", &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = get(&app, "/", &[("if-none-match", etag.as_str())]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        for r in [&resp, &again] {
            let h = r.headers();
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        }
        // Feeds are not pages: readers and aggregators may embed them as they like.
        let feed = get(&app, "/feeds/news.atom", &[]).await;
        assert!(feed.headers().get("x-frame-options").is_none());
    }

    async fn the_index_page_lists_sections_with_autodiscovery_links_and_the_subscribe_form(app) {
        let html = get(&app, "/", &[]).await.text().await.unwrap();
        let page = scraper::Html::parse_document(&html);
        let sel = |s: &str| scraper::Selector::parse(s).unwrap();
        assert_eq!(page.select(&sel("html")).next().unwrap().attr("lang"), Some("zh-CN"));
        let alternates: Vec<(String, String)> = page
            .select(&sel("head link[rel=alternate]"))
            .map(|l| (l.attr("type").unwrap().to_owned(), l.attr("href").unwrap().to_owned()))
            .collect();
        for slug in ["all", "news", "notices", "grassroots", "about"] {
            assert!(alternates.contains(&("application/rss+xml".into(), format!("http://feeds.example.test/feeds/{slug}.rss"))), "{slug}");
            assert!(alternates.contains(&("application/atom+xml".into(), format!("http://feeds.example.test/feeds/{slug}.atom"))), "{slug}");
            assert!(alternates.contains(&("application/feed+json".into(), format!("http://feeds.example.test/feeds/{slug}.json"))), "{slug}");
        }
        assert!(html.contains("工会要闻") && html.contains("基层动态"));
        let form = page.select(&sel("form[method=post]")).next().expect("subscribe form");
        assert_eq!(form.attr("action"), Some("subscribe"));
        assert!(form.select(&sel("input[type=email][name=email]")).next().is_some());
        let boxes: Vec<&str> = form.select(&sel("input[type=checkbox][name=sections]")).map(|b| b.attr("value").unwrap()).collect();
        assert_eq!(boxes, ["news", "notices", "grassroots", "about"]);
    }
}
