//! goclient's command line, accepted unchanged: Go's `flag` package allows `-ce`,
//! `--ce`, `-ce=false`, `-rt 30s` and `-rt=30s`. [`normalize_args`] rewrites Go's
//! single-dash long flags into clap's `--flag` form, and [`parse_duration`] reads Go
//! duration strings (`200ms`, `1m30s`, `0`).

use std::time::Duration;

/// Long flag names that goclient spells with one dash.
const GO_LONG: &[&str] = &[
    "ce",
    "cc",
    "ct",
    "cka",
    "rt",
    "rl",
    "tor",
    "daily",
    "send-existing",
    "print-uuid",
    "json",
    "help",
    "replay-mb",
    "replay-secs",
    "buffer-mb",
    "spool",
    "drain-timeout",
    "stats",
];

/// Rewrites `-name[=v]` into `--name[=v]` for goclient's multi-letter flags, and
/// `-c=DIR` into `-cDIR`-style `--config=DIR`. Everything else is left alone.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            let Some(body) = a.strip_prefix('-').filter(|b| !b.starts_with('-')) else {
                return a;
            };
            let name = body.split('=').next().unwrap_or(body);
            if GO_LONG.contains(&name) {
                format!("-{a}")
            } else if let Some(v) = body.strip_prefix("c=") {
                format!("--config={v}")
            } else {
                a
            }
        })
        .collect()
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `0`); also accepts a bare number of
/// seconds. Go's sign and `ns`/`us`/`µs` units are supported.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"));
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_flags_become_long_flags() {
        let a = normalize_args(
            [
                "d4-client",
                "-c",
                "conf",
                "-ce=false",
                "-rt",
                "1s",
                "-cc",
                "-c=x",
                "--rl=0",
            ]
            .map(String::from),
        );
        assert_eq!(
            a,
            [
                "d4-client",
                "-c",
                "conf",
                "--ce=false",
                "--rt",
                "1s",
                "--cc",
                "--config=x",
                "--rl=0"
            ]
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("5mn").is_err());
    }
}
