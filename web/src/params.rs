//! [`Params`]: the request's query string plus, for POST, its form body
//! (`application/x-www-form-urlencoded` or `multipart/form-data` text fields), as one
//! ordered list. Upstream reads parameters from both places and its forms post multipart,
//! so scripts written for it keep working. Multipart bodies are read with `actix-multipart`;
//! bodies are bounded by [`MAX_BODY`].

use crate::error::WebError;
use actix_multipart::{Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use actix_web::{dev::Payload, http::Method, web, FromRequest, HttpRequest};
use futures_util::{stream, StreamExt};
use std::future::Future;
use std::pin::Pin;

/// Largest accepted form body.
pub(crate) const MAX_BODY: usize = 256 * 1024;

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
    pub async fn parse(req: &HttpRequest, body: web::Bytes) -> Result<Params, WebError> {
        let mut pairs = Params::from_query(req.query_string())?;
        let mut body_names = Vec::new();
        if !body.is_empty() {
            let ct = req
                .headers()
                .get(actix_web::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let fields = parse_body(ct, body).await?;
            body_names.extend(fields.iter().map(|(k, _)| k.clone()));
            pairs.extend(fields);
        }
        Ok(Params { pairs, body_names })
    }
}

/// Decodes a form body by content type.
pub(crate) async fn parse_body(
    content_type: &str,
    body: web::Bytes,
) -> Result<Vec<(String, String)>, WebError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| WebError::BadRequest("form body is not UTF-8".into()))?;
            Params::from_query(text)
        }
        "multipart/form-data" => parse_multipart(content_type, body).await,
        other => Err(WebError::UnsupportedMedia(other.to_string())),
    }
}

/// Text fields of a `multipart/form-data` body, read with `actix-multipart` (file parts
/// are skipped; values are decoded as UTF-8, invalid bytes replaced).
async fn parse_multipart(
    content_type: &str,
    body: web::Bytes,
) -> Result<Vec<(String, String)>, WebError> {
    let bad = |e: MultipartError| WebError::BadRequest(format!("malformed multipart body: {e}"));
    let mut headers = HeaderMap::new();
    let ct = HeaderValue::from_str(content_type)
        .map_err(|_| WebError::BadRequest("malformed content type".into()))?;
    headers.insert(CONTENT_TYPE, ct);
    let payload = stream::once(async move { Ok::<_, PayloadError>(body) });
    let mut multipart = Multipart::new(&headers, payload);
    let mut out = Vec::new();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(bad)?;
        let (name, is_file) = match field.content_disposition() {
            Some(cd) => (
                cd.get_name().map(str::to_string),
                cd.get_filename().is_some(),
            ),
            None => (None, false),
        };
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            value.extend_from_slice(&chunk.map_err(bad)?);
        }
        if is_file {
            continue;
        }
        let name = name.ok_or_else(|| {
            WebError::BadRequest("malformed multipart body: part without a name".into())
        })?;
        out.push((name, String::from_utf8_lossy(&value).into_owned()));
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
            Params::parse(&req, bytes).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, WebError> {
        let body = web::Bytes::copy_from_slice(body);
        actix_web::rt::System::new().block_on(parse_body(content_type, body))
    }

    #[test]
    fn multipart_text_fields_are_read_and_files_skipped() {
        let body = "--XY\r\nContent-Disposition: form-data; name=\"analyzer_type\"\r\n\r\n8\r\n\
                    --XY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nbin\r\n\
                    --XY\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nline1\r\nline2\r\n--XY--\r\n";
        let f = parse("multipart/form-data; boundary=XY", body.as_bytes()).unwrap();
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
        let f = parse("application/x-www-form-urlencoded", b"a=1&b=x+y").unwrap();
        assert_eq!(f[1], ("b".to_string(), "x y".to_string()));
        assert!(matches!(
            parse("text/xml", b"<a/>"),
            Err(WebError::UnsupportedMedia(_))
        ));
        assert!(parse("multipart/form-data", b"x").is_err());
    }
}
