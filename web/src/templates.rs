//! Tera templates, embedded in the binary and compiled once (startup fails fast on a
//! broken template). Autoescaping is on for every `.html` template.

use std::sync::OnceLock;
use tera::{Context, Tera};

/// Every template: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "change_password.html",
        include_str!("../templates/change_password.html"),
    ),
    ("error.html", include_str!("../templates/error.html")),
    ("confirm.html", include_str!("../templates/confirm.html")),
    ("index.html", include_str!("../templates/index.html")),
    (
        "sensors_status.html",
        include_str!("../templates/sensors_status.html"),
    ),
    (
        "uuid_management.html",
        include_str!("../templates/uuid_management.html"),
    ),
    (
        "add_sensor_to_monitor.html",
        include_str!("../templates/add_sensor_to_monitor.html"),
    ),
    (
        "server_management.html",
        include_str!("../templates/server_management.html"),
    ),
    (
        "blacklist.html",
        include_str!("../templates/blacklist.html"),
    ),
    (
        "registered_sensors.html",
        include_str!("../templates/registered_sensors.html"),
    ),
    (
        "pending_sensor.html",
        include_str!("../templates/pending_sensor.html"),
    ),
    (
        "queue_creator.html",
        include_str!("../templates/queue_creator.html"),
    ),
    (
        "queue_editor.html",
        include_str!("../templates/queue_editor.html"),
    ),
    (
        "settings_base.html",
        include_str!("../templates/settings_base.html"),
    ),
    (
        "edit_profile.html",
        include_str!("../templates/edit_profile.html"),
    ),
    (
        "create_user.html",
        include_str!("../templates/create_user.html"),
    ),
    (
        "users_list.html",
        include_str!("../templates/users_list.html"),
    ),
    ("macros.html", include_str!("../templates/macros.html")),
    ("pager.html", include_str!("../templates/pager.html")),
];

static TERA: OnceLock<Result<Tera, String>> = OnceLock::new();

fn build() -> Result<Tera, String> {
    let mut t = Tera::default();
    t.add_raw_templates(TEMPLATES.iter().copied())
        .map_err(|e| format!("{e:?}"))?;
    t.autoescape_on(vec![".html"]);
    t.register_filter("urlq", urlq);
    Ok(t)
}

/// Tera filter: percent-encodes a value for use inside a query string.
fn urlq(
    v: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let s = match v {
        tera::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(tera::Value::String(crate::util::urlencode(&s)))
}

/// Compiles every template; call at startup so a broken one stops the process.
pub fn init() -> Result<(), String> {
    TERA.get_or_init(build)
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// A template that failed to compile or render (the text names the template).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Renders a template.
pub fn render(name: &str, ctx: &Context) -> Result<String, TemplateError> {
    let t = TERA
        .get_or_init(build)
        .as_ref()
        .map_err(|e| TemplateError(e.clone()))?;
    t.render(name, ctx)
        .map_err(|e| TemplateError(format!("{name}: {e:?}")))
}

/// The error page; falls back to plain escaped text if rendering fails.
pub fn render_error(code: u16, reason: &str, message: &str) -> String {
    let mut ctx = Context::new();
    ctx.insert("code", &code);
    ctx.insert("reason", reason);
    ctx.insert("message", message);
    render("error.html", &ctx).unwrap_or_else(|_| {
        format!(
            "<!doctype html><title>{code}</title><h1>{code} {}</h1><p>{}</p>",
            crate::util::xml_escape(reason),
            crate::util::xml_escape(message)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        if let Err(e) = init() {
            panic!("{e}");
        }
    }
}
