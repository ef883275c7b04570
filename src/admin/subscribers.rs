//! Console pages: subscribers (stub, filled in by its own change).

use super::Route;

/// Routes of this page open to editors (and admins).
pub(super) fn editor_routes() -> Vec<Route> {
    Vec::new()
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    Vec::new()
}
