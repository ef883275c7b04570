//! The admin console (SPEC §9): server-rendered pages under `/admin` for the people who run
//! the site, in zh-CN and en, usable without JavaScript.
//!
//! Every request passes [`guard`] (session, language, CSRF and origin checks); handlers take
//! [`EditorSession`] or [`AdminSession`], and the admin-only routes are also behind a layer
//! that refuses editors, so a route added to that group cannot forget the check.

mod accounts;
mod articles;
mod articles_announce;
mod articles_form;
mod articles_preview;
mod articles_retract;
mod articles_shared;
mod audit_page;
pub mod cli;
mod dashboard;
mod guard;
mod login;
mod page;
pub mod password;
mod returned;
mod runs;
mod schedules;
pub mod secret;
mod sections;
mod sections_form;
mod session;
mod settings;
mod setup;
mod sources;
mod state;
mod subscribers;
mod visit;

use axum::{
    Router,
    extract::{Request, State},
    handler::Handler,
    http::Method,
    middleware::{self, Next},
    response::Response,
    routing::{MethodRouter, get, post},
};

use crate::{
    AppState,
    domain::{Email, EmailError, Role},
};

pub use accounts::TOKEN_PREFIX;
pub use guard::CSRF_FIELD;
pub use login::{ACCOUNT_FAILURES, CLIENT_FAILURES, WINDOW_MS};
pub use session::{
    ABSOLUTE_MS, AdminSession, EditorSession, IDLE_MS, LOCALE_COOKIE, PRE_COOKIE, SESSION_COOKIE,
};
pub use setup::LINK_TTL_MS;
pub use state::{Console, ConsoleState};

/// The address an account is known by: a valid email, in lower case.
pub fn account_email(raw: &str) -> Result<String, EmailError> {
    Email::parse(raw).map(|e| e.as_str().to_lowercase())
}

/// One route: its method and path, and the handler.
struct Route {
    method: Method,
    path: &'static str,
    handler: MethodRouter<AppState>,
}

impl Route {
    fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: Method::GET,
            path,
            handler: get(handler),
        }
    }

    fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: Method::POST,
            path,
            handler: post(handler),
        }
    }
}

/// Routes open to every logged-in person (and the login pages, open to anyone).
fn editor_routes() -> Vec<Route> {
    vec![
        Route::get("/admin", dashboard::show),
        Route::get("/admin/login", login::show),
        Route::post("/admin/login", login::submit),
        Route::get("/admin/password", setup::show),
        Route::post("/admin/password", setup::submit),
        Route::post("/admin/logout", login::logout),
        Route::post("/admin/logout-everywhere", login::logout_everywhere),
    ]
    .into_iter()
    .chain(articles::editor_routes())
    .chain(sections::editor_routes())
    .chain(schedules::editor_routes())
    .chain(runs::editor_routes())
    .chain(subscribers::editor_routes())
    .chain(sources::editor_routes())
    .chain(settings::editor_routes())
    .collect()
}

/// Routes for admins only: subscribers, schedules, settings and accounts.
fn admin_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/accounts", accounts::show),
        Route::post("/admin/tokens", accounts::create),
        Route::post("/admin/tokens/{id}/revoke", accounts::revoke),
        Route::post("/admin/people", accounts::people::add),
        Route::post("/admin/people/role", accounts::people::set_role),
        Route::post("/admin/people/remove", accounts::people::remove),
        Route::get("/admin/audit", audit_page::show),
        Route::get("/admin/returned", returned::show),
        Route::get("/admin/returned/{id}", returned::message),
        Route::get("/admin/articles/{id}/announce", articles_announce::confirm),
        Route::post("/admin/articles/{id}/announce", articles_announce::announce),
    ]
    .into_iter()
    .chain(articles::admin_routes())
    .chain(sections::admin_routes())
    .chain(schedules::admin_routes())
    .chain(runs::admin_routes())
    .chain(subscribers::admin_routes())
    .chain(sources::admin_routes())
    .chain(settings::admin_routes())
    .collect()
}

/// Method and path of every admin-only route (tests walk them all as an editor).
pub fn admin_only_routes() -> Vec<(Method, &'static str)> {
    admin_routes()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// Method and path of every console route, both groups (tests send each POST without its
/// CSRF token).
pub fn all_routes() -> Vec<(Method, &'static str)> {
    editor_routes()
        .into_iter()
        .chain(admin_routes())
        .map(|r| (r.method, r.path))
        .collect()
}

fn add(router: Router<AppState>, routes: Vec<Route>) -> Router<AppState> {
    routes
        .into_iter()
        .fold(router, |r, route| r.route(route.path, route.handler))
}

/// The console's routes, behind the guard; the stylesheet is outside it (cacheable, no
/// session needed).
pub fn router(state: &AppState) -> Router<AppState> {
    let console = ConsoleState::from_app(state);
    let admin_only = add(Router::new(), admin_routes())
        .route_layer(middleware::from_fn_with_state(console.clone(), admins_only));
    add(Router::new(), editor_routes())
        .merge(admin_only)
        .layer(middleware::from_fn_with_state(console, guard::guard))
        .route("/admin/assets/console.css", get(page::stylesheet))
        .route("/admin/assets/console.js", get(page::script))
}

/// The admin-only group's layer: an editor (or nobody) gets the 403 page before any handler.
async fn admins_only(State(state): State<ConsoleState>, req: Request, next: Next) -> Response {
    let visit = req.extensions().get::<session::Visit>().cloned();
    match visit {
        Some(v) if v.signed.is_none() && req.method() == Method::GET => next.run(req).await,
        Some(v) => match session::refusal(&state, &v, Role::Admin) {
            None => next.run(req).await,
            Some(refused) => refused,
        },
        None => next.run(req).await,
    }
}
