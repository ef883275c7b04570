//! Sign-ups and their mails go through a bounded queue and a small worker, so that `POST
//! /subscribe` does the same work, and so takes the same time, for every address: the
//! database transaction (whose work depends on the address's state) and the mail happen here.

use std::{sync::Mutex, time::Duration};

use minijinja::context;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};

use super::{
    choices::Catalog,
    held,
    limits::RESEND_INTERVAL_MS,
    links,
    token::{self, CONFIRM_TTL_MS},
};
use crate::{
    AppState,
    branding::Branding,
    clock::to_ms,
    config::SiteConfig,
    domain::{Email, Preferences},
    mail::{self, SendError, Templates},
    store::{IssuedHashes, SubscribeOutcome},
};

/// Jobs waiting; beyond this `POST /subscribe` answers 503.
pub const QUEUE_CAPACITY: usize = 256;
/// Mails being sent at once.
const PARALLEL: usize = 4;
/// How long shutdown waits for mails being sent (the whole exit must fit 10 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Waits before the 2nd and 3rd attempts of a mail that failed transiently.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(60)];
/// What a visitor turned away by a full queue is asked to wait (`Retry-After`): the longest
/// pause of a mail between attempts, after which the mails being sent have moved on and the
/// queue with them.
pub const BUSY_RETRY_AFTER: Duration = RETRY_DELAYS[RETRY_DELAYS.len() - 1];

/// A mail to send on a visitor's behalf. The token exists only here and in the mail.
#[derive(Debug, Clone)]
pub enum MailJob {
    /// "Please confirm": carries a confirm token.
    Confirm {
        to: Email,
        locale: String,
        token: String,
        schedule: String,
    },
    /// "You are already subscribed": carries a manage token.
    AlreadyActive {
        to: Email,
        locale: String,
        token: String,
    },
}

/// Work for the worker.
#[derive(Debug, Clone)]
pub enum Job {
    /// A valid sign-up to record, then to answer with a mail if one is due.
    SignUp { email: Email, prefs: Preferences },
    /// A mail whose token is already stored.
    Mail(MailJob),
}

/// The queue's two ends; the receiving end is taken once by the worker.
pub struct Outbox {
    pub sender: mpsc::Sender<Job>,
    receiver: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Default for Outbox {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

/// Starts the worker (once); it stops taking mail at shutdown and finishes what it holds.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let Some(mut rx) = state
        .subscriptions
        .outbox
        .receiver
        .lock()
        .expect("outbox lock")
        .take()
    else {
        return;
    };
    let state = state.clone();
    tasks.spawn(async move {
        let slots = std::sync::Arc::new(Semaphore::new(PARALLEL));
        let mut sending = JoinSet::new();
        loop {
            let job = tokio::select! {
                _ = state.shutdown.cancelled() => break,
                job = rx.recv() => match job { Some(j) => j, None => break },
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let state = state.clone();
            sending.spawn(async move {
                deliver(&state, job).await;
                drop(slot);
            });
            while sending.try_join_next().is_some() {}
        }
        rx.close();
        if !rx.is_empty() {
            tracing::warn!(
                left = rx.len(),
                "shutting down with confirmation mails unsent"
            );
        }
        // Shutdown must not hang on a slow mail server.
        let drain = async { while sending.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!("confirmation mails still sending at shutdown; abandoned");
        }
    });
}

async fn deliver(state: &AppState, job: Job) {
    let job = match job {
        Job::Mail(m) => m,
        Job::SignUp { email, prefs } => match record(state, &email, &prefs).await {
            Ok(Some(m)) => {
                // This mail answers a sign-up still kept from earlier too (its window has
                // ended, its worker not yet come): it carries the newest choices already.
                if let Err(e) = state.store.drop_deferred_signup(email.as_str()).await {
                    tracing::warn!(error = ?e, "cannot drop a held-back sign-up");
                }
                m
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = ?e, "cannot record a sign-up");
                return;
            }
        },
    };
    send(state, &job).await;
}

/// Renders `job` and sends it, trying again after transient failures; whether the relay
/// accepted it.
pub(super) async fn send(state: &AppState, job: &MailJob) -> bool {
    let composed = match Catalog::load(&state.store, &state.config).await {
        Ok(names) => compose(
            &state.config.site,
            &state.branding,
            &state.templates,
            &names,
            job,
        ),
        Err(e) => Err(e),
    };
    let email = match composed {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = ?e, "cannot render a subscription mail");
            return false;
        }
    };
    let mut delays = RETRY_DELAYS.iter();
    loop {
        match state.mailer.send(&email).await {
            Ok(_) => return true,
            Err(SendError::Transient(why) | SendError::RelayDown(why)) => {
                let Some(delay) = delays.next() else {
                    tracing::warn!(%why, "subscription mail not sent; giving up");
                    return false;
                };
                tracing::warn!(%why, ?delay, "subscription mail failed; retrying");
                tokio::select! {
                    _ = state.shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(*delay) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "subscription mail not sent");
                return false;
            }
        }
    }
}

/// Records a sign-up and says which mail, if any, is due.
pub(super) async fn record(
    state: &AppState,
    email: &Email,
    prefs: &Preferences,
) -> anyhow::Result<Option<MailJob>> {
    let now = to_ms(state.clock.now());
    let confirm = token::generate();
    let manage = token::generate();
    let hashes = IssuedHashes {
        confirm: &confirm.hash,
        manage: &manage.hash,
        confirm_expires_at: now + CONFIRM_TTL_MS,
    };
    let outcome = state
        .store
        .request_subscription(email.as_str(), prefs, &hashes, now, RESEND_INTERVAL_MS)
        .await?;
    Ok(match outcome {
        SubscribeOutcome::SendConfirmation { locale, .. } => Some(MailJob::Confirm {
            to: email.clone(),
            locale,
            token: confirm.text,
            schedule: prefs.schedule.clone(),
        }),
        SubscribeOutcome::SendAlreadyActive { locale, .. } => Some(MailJob::AlreadyActive {
            to: email.clone(),
            locale,
            token: manage.text,
        }),
        SubscribeOutcome::Throttled => {
            // No mail now: the budget unit taken for it goes back, and the request waits
            // for the end of the address's window instead of being dropped.
            state
                .subscriptions
                .confirmations
                .give_back(&state.store, now)
                .await;
            let wake = &state.subscriptions.deferred;
            held::defer(&state.store, wake, email.as_str(), prefs, now).await?;
            None
        }
    })
}

/// Renders a job into a mail, in the subscriber's language, with the site's branding.
pub fn compose(
    site: &SiteConfig,
    branding: &Branding,
    t: &Templates,
    names: &Catalog,
    job: &MailJob,
) -> anyhow::Result<mail::Email> {
    let base = site.base_url.as_str();
    // (template name, the strings key of its subject, what only it needs)
    let (to, locale, template, subject_key, extra) = match job {
        MailJob::Confirm {
            to,
            locale,
            token,
            schedule,
        } => {
            // The name pages show too: a renamed schedule is called the same everywhere.
            let name = names.schedule_name(t, locale, schedule);
            let url = links::confirm_url(base, token, locale);
            (
                to,
                locale,
                "confirm",
                "mail_confirm.subject",
                context! { confirm_url => url, schedule_name => name },
            )
        }
        MailJob::AlreadyActive { to, locale, token } => {
            let url = links::subscriber_links(base, token, locale).manage_url;
            (
                to,
                locale,
                "already_subscribed",
                "mail_already.subject",
                context! { manage_url => url },
            )
        }
    };
    let brand = branding.brand(locale);
    let subject = t.text(locale, subject_key).replace("{site}", &brand.title);
    let ctx = context! {
        t => t.strings(locale),
        site_title => &brand.title,
        base_url => base,
        subject => &subject,
        ..extra
    };
    Ok(mail::Email {
        to: to.clone(),
        to_name: None,
        from_name: brand.sender_name,
        subject,
        text: t.render(&format!("mail/{template}.txt"), ctx.clone())?,
        html: Some(t.render(&format!("mail/{template}.html"), ctx)?),
        headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
        message_id: None,
        envelope_from: None,
    })
}
