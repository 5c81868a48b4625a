//! Static assets, compiled into the binary and served by vitals itself (no
//! CDN): the stylesheet and a small dependency-free script.

use actix_web::{HttpResponse, web};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// Cache-busting version of the assets (changes with the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /ui/assets/{name}`
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    let (body, ct) = match name.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(ct)
        .insert_header(("cache-control", "public, max-age=3600"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}
