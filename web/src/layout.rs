//! The page shell (skip link, header, navigation, preferences, sign-out),
//! badges that carry text and a symbol (never colour alone), and the
//! chart-beside-table figure.

use crate::ctx::{Ctx, FONT_SIZES, Prefs, Theme, url_encode};
use actix_web::HttpResponse;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use vitals_analyzer::evaluate::{Decision, Verdict};
use vitals_i18n::{Lang, Msg};
use vitals_store::control::Role;

/// Which section of an app a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Release,
    Crashes,
    Compat,
    Perf,
    Updates,
    Emergency,
}

fn head(prefs: &Prefs, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content=(if prefs.theme == Theme::Dark { "dark" } else { "light" });
            title { (title) " · vitals" }
            link rel="stylesheet" href=(format!("/ui/assets/app.css?v={}", crate::assets::VERSION));
            script src=(format!("/ui/assets/app.js?v={}", crate::assets::VERSION)) defer {}
        }
    }
}

fn html_class(prefs: &Prefs) -> String {
    format!("theme-{} font-{}", prefs.theme_name(), prefs.font)
}

fn respond(markup: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "same-origin"))
        .insert_header(("x-frame-options", "DENY"))
        .body(markup.into_string())
}

/// A page without navigation (login, errors).
pub fn bare(lang: Lang, prefs: &Prefs, title: &str, body: Markup) -> HttpResponse {
    respond(html! {
        (DOCTYPE)
        html lang=(lang.tag()) class=(html_class(prefs)) {
            (head(prefs, title))
            body {
                main id="main" class="narrow" { (body) }
            }
        }
    })
}

fn prefs_bar(cx: &Ctx) -> Markup {
    let back = url_encode(&cx.here);
    html! {
        nav class="prefs" aria-label=(cx.t(Msg::WebPrefs)) {
            span { (cx.t(Msg::WebTheme)) ": " }
            a href=(format!("/ui/prefs?theme=light&back={back}")) aria-current=[(cx.prefs.theme == Theme::Light).then_some("true")] { (cx.t(Msg::WebThemeLight)) }
            " "
            a href=(format!("/ui/prefs?theme=dark&back={back}")) aria-current=[(cx.prefs.theme == Theme::Dark).then_some("true")] { (cx.t(Msg::WebThemeDark)) }
            span class="sep" aria-hidden="true" { "|" }
            span { (cx.t(Msg::WebFontSize)) ": " }
            @for f in FONT_SIZES {
                a href=(format!("/ui/prefs?font={f}&back={back}")) aria-current=[(cx.prefs.font == f).then_some("true")]
                    aria-label=(cx.r(Msg::WebFontSizeN, &[("n", &f)])) { (f) "%" }
                " "
            }
            span class="sep" aria-hidden="true" { "|" }
            a href=(format!("/ui/prefs?lang=zh-CN&back={back}")) lang="zh-CN" aria-current=[(cx.lang == Lang::ZhCn).then_some("true")] { "中文" }
            " "
            a href=(format!("/ui/prefs?lang=en&back={back}")) lang="en" aria-current=[(cx.lang == Lang::En).then_some("true")] { "English" }
        }
    }
}

/// A full page for a signed-in user.
pub fn page(cx: &Ctx, title: &str, body: Markup) -> HttpResponse {
    let role = cx.user.as_ref().map(|u| u.role.as_str()).unwrap_or("");
    respond(html! {
        (DOCTYPE)
        html lang=(cx.lang.tag()) class=(html_class(&cx.prefs)) {
            (head(&cx.prefs, title))
            body {
                a class="skip" href="#main" { (cx.t(Msg::WebSkipToContent)) }
                header class="top" {
                    a class="brand" href="/ui/" { "vitals" }
                    nav aria-label=(cx.t(Msg::WebMainNav)) {
                        a href="/ui/" { (cx.t(Msg::WebNavOverview)) }
                        " "
                        a href="/ui/alerts" { (cx.t(Msg::WebNavAlerts)) }
                    }
                    div class="who" {
                        span data-testid="who" { (cx.user_name()) " (" (role_text(cx, role)) ")" }
                        form method="post" action="/ui/logout" class="inline" {
                            input type="hidden" name="_csrf" value=(cx.csrf());
                            button type="submit" { (cx.t(Msg::WebLogout)) }
                        }
                    }
                }
                (prefs_bar(cx))
                main id="main" tabindex="-1" {
                    (body)
                }
                footer {
                    p { (cx.r(Msg::WebTimezoneNote, &[("tz", &cx.tz.name())])) }
                }
            }
        }
    })
}

fn role_text(cx: &Ctx, role: &str) -> String {
    match Role::parse(role) {
        Some(Role::Admin) => cx.t(Msg::WebRoleAdmin),
        Some(Role::Operator) => cx.t(Msg::WebRoleOperator),
        _ => cx.t(Msg::WebRoleViewer),
    }
}

/// The app's section tabs, carrying the release.
pub fn tabs(cx: &Ctx, app: &str, release: &str, active: Tab) -> Markup {
    let r = url_encode(release);
    let a = url_encode(app);
    let items = [
        (
            Tab::Release,
            format!("/ui/apps/{a}/releases/{r}"),
            Msg::WebTabRelease,
        ),
        (
            Tab::Crashes,
            format!("/ui/apps/{a}/crashes?release={r}"),
            Msg::WebTabCrashes,
        ),
        (
            Tab::Compat,
            format!("/ui/apps/{a}/compatibility?release={r}"),
            Msg::WebTabCompat,
        ),
        (
            Tab::Perf,
            format!("/ui/apps/{a}/performance?release={r}"),
            Msg::WebTabPerf,
        ),
        (
            Tab::Updates,
            format!("/ui/apps/{a}/updates?release={r}"),
            Msg::WebTabUpdates,
        ),
        (
            Tab::Emergency,
            format!("/ui/apps/{a}/emergency?release={r}"),
            Msg::WebTabEmergency,
        ),
    ];
    html! {
        nav class="tabs" aria-label=(cx.r(Msg::WebAppNav, &[("app", &app)])) {
            @for (t, href, m) in items {
                a href=(href) aria-current=[(t == active).then_some("page")] { (cx.t(m)) }
            }
        }
    }
}

/// A verdict badge: symbol + text + class.
pub fn verdict(cx: &Ctx, v: Verdict) -> Markup {
    let (class, sym) = match v {
        Verdict::Pass => ("ok", "✓"),
        Verdict::Fail => ("bad", "✗"),
        Verdict::InsufficientData => ("unknown", "?"),
    };
    html! { span class=(format!("badge {class}")) { span aria-hidden="true" { (sym) } " " (v.text(cx.lang)) } }
}

/// The decision badge.
pub fn decision(cx: &Ctx, d: Decision) -> Markup {
    let (class, sym, m) = match d {
        Decision::Go => ("ok", "✓", Msg::WebDecisionGo),
        Decision::NoGo => ("bad", "✗", Msg::WebDecisionNoGo),
        Decision::InsufficientData => ("unknown", "?", Msg::WebDecisionInsufficient),
    };
    html! { span class=(format!("badge big {class}")) data-decision=(format!("{d:?}")) { span aria-hidden="true" { (sym) } " " (cx.t(m)) } }
}

/// A plain badge with a class and text.
pub fn badge(class: &str, text: &str) -> Markup {
    html! { span class=(format!("badge {class}")) { (text) } }
}

/// A chart with its table alternative beside it.
pub fn figure(cx: &Ctx, id: &str, caption: &str, svg: String, table: Markup) -> Markup {
    html! {
        figure class="chart-figure" id=(id) {
            figcaption { (caption) }
            div class="chart-pair" {
                div class="chart-svg" { (PreEscaped(svg)) }
                div class="chart-table" role="region" tabindex="0" aria-label=(cx.r(Msg::WebTableOf, &[("chart", &caption)])) {
                    (table)
                }
            }
        }
    }
}

/// A hidden CSRF field.
pub fn csrf(cx: &Ctx) -> Markup {
    html! { input type="hidden" name="_csrf" value=(cx.csrf()); }
}

/// A `<select>` of the app's releases that reloads the page with `?release=`.
pub fn release_picker(
    cx: &Ctx,
    action: &str,
    releases: &[String],
    current: &str,
    extra: Markup,
) -> Markup {
    html! {
        form method="get" action=(action) class="filters" {
            label for="release" { (cx.t(Msg::WebRelease)) }
            select id="release" name="release" {
                @for r in releases.iter().rev() {
                    option value=(r) selected[r == current] { (r) }
                }
            }
            (extra)
            button type="submit" { (cx.t(Msg::WebApply)) }
        }
    }
}
