//! [`Params`]: the request's query string plus, for POST, its form body
//! (`application/x-www-form-urlencoded` or `multipart/form-data` text fields), as one
//! ordered list. Upstream reads parameters from both places and its forms post multipart,
//! so scripts written for it keep working. Bodies are bounded by [`MAX_BODY`].

use crate::error::WebError;
use actix_web::{dev::Payload, http::Method, web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// Largest accepted form body.
pub const MAX_BODY: usize = 256 * 1024;

/// Ordered `(name, value)` pairs from the query string and the form body.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Query string pairs first, then body pairs.
    pub pairs: Vec<(String, String)>,
    /// Names that came from the body (for "every other field is a sensor uuid").
    pub body_names: Vec<String>,
}

impl Params {
    /// The last value of `name` (body wins over query), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, trimmed, if present and non-empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A required parameter, or a 400 naming it.
    pub fn require(&self, name: &str) -> Result<&str, WebError> {
        self.get(name)
            .ok_or_else(|| WebError::BadRequest(format!("missing parameter: {name}")))
    }

    /// Whether `name` is present at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Body fields not named in `known`, with non-empty values (sensor uuid inputs).
    pub fn other_body_values(&self, known: &[&str]) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, v)| {
                !known.contains(&k.as_str()) && self.body_names.contains(k) && !v.trim().is_empty()
            })
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// Parses a query string.
    pub fn from_query(q: &str) -> Result<Vec<(String, String)>, WebError> {
        web::Query::<Vec<(String, String)>>::from_query(q)
            .map(web::Query::into_inner)
            .map_err(|e| WebError::BadRequest(format!("malformed query string: {e}")))
    }

    /// Builds params from a request and its (already read) body.
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Params, WebError> {
        let mut pairs = Params::from_query(req.query_string())?;
        let mut body_names = Vec::new();
        if !body.is_empty() {
            let ct = req
                .headers()
                .get(actix_web::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let fields = parse_body(ct, body)?;
            body_names.extend(fields.iter().map(|(k, _)| k.clone()));
            pairs.extend(fields);
        }
        Ok(Params { pairs, body_names })
    }
}

/// Decodes a form body by content type.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, WebError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| WebError::BadRequest("form body is not UTF-8".into()))?;
            Params::from_query(text)
        }
        "multipart/form-data" => {
            let boundary = boundary_of(content_type)
                .ok_or_else(|| WebError::BadRequest("multipart body without boundary".into()))?;
            parse_multipart(body, &boundary)
        }
        other => Err(WebError::UnsupportedMedia(other.to_string())),
    }
}

fn boundary_of(ct: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Text fields of a `multipart/form-data` body (file parts are skipped).
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, WebError> {
    let bad = |m: &str| WebError::BadRequest(format!("malformed multipart body: {m}"));
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut parts = text.split(delim.as_str());
    parts.next(); // preamble
    for part in parts {
        if part.starts_with("--") {
            break; // closing delimiter
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part
            .split_once("\r\n\r\n")
            .ok_or_else(|| bad("part without headers"))?;
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or_else(|| bad("part without content-disposition"))?;
        if disp.contains("filename=") {
            continue;
        }
        let name = disp
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| n.trim_matches('"').to_string())
            .ok_or_else(|| bad("part without a name"))?;
        out.push((name, value.to_string()));
    }
    Ok(out)
}

impl FromRequest for Params {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Params, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let is_post = req.method() == Method::POST;
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = if is_post {
                body.await.map_err(|_| {
                    WebError::BadRequest(format!(
                        "request body too large or unreadable (limit {MAX_BODY} bytes)"
                    ))
                })?
            } else {
                web::Bytes::new()
            };
            if bytes.len() > MAX_BODY {
                return Err(WebError::BadRequest(format!(
                    "request body over {MAX_BODY} bytes"
                )));
            }
            Params::parse(&req, &bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_text_fields_are_read_and_files_skipped() {
        let body = "--XY\r\nContent-Disposition: form-data; name=\"analyzer_type\"\r\n\r\n8\r\n\
                    --XY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nbin\r\n\
                    --XY\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nline1\r\nline2\r\n--XY--\r\n";
        let f = parse_body("multipart/form-data; boundary=XY", body.as_bytes()).unwrap();
        assert_eq!(
            f,
            vec![
                ("analyzer_type".to_string(), "8".to_string()),
                ("description".to_string(), "line1\r\nline2".to_string())
            ]
        );
    }

    #[test]
    fn urlencoded_and_unknown_types() {
        let f = parse_body("application/x-www-form-urlencoded", b"a=1&b=x+y").unwrap();
        assert_eq!(f[1], ("b".to_string(), "x y".to_string()));
        assert!(matches!(
            parse_body("text/xml", b"<a/>"),
            Err(WebError::UnsupportedMedia(_))
        ));
        assert!(parse_body("multipart/form-data", b"x").is_err());
    }
}
