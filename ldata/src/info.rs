//! One data-arrival event (LROSE's `LdataInfo`): its fields, LROSE's two file formats
//! (`_latest_data_info.xml` and the ASCII `_latest_data_info`), and a parser of LROSE's XML.
//!
//! The XML is LROSE's, tag for tag and line for line (`LdataInfo::_loadXmlBuf`), with one
//! difference: text is XML-escaped (`&`, `<`, `>`), which LROSE does not do (a path with a
//! `<` breaks LROSE's own reader, which looks for `</tag>` with `strstr`). The parser
//! accepts what LROSE writes (unescaped text too: an `&` not followed by a known entity is
//! taken literally) and ignores tags it does not know.

use serde::{Deserialize, Serialize};

/// One data-arrival event: which file was just written into a data directory, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdataInfo {
    /// The data's time (not the time of writing), seconds since the epoch, UTC.
    pub unix_time: i64,
    /// The file's path relative to the data directory.
    pub rel_data_path: String,
    /// The file's extension (LROSE: `file_ext`), without the dot.
    pub file_ext: String,
    /// The data type (`mdv`, `nc`, `spdb`, ...).
    pub data_type: String,
    /// Free text; LROSE's `none` when empty.
    pub user_info1: String,
    /// Free text; LROSE's `none` when empty.
    pub user_info2: String,
    /// A forecast: `unix_time` is the generation time, valid at `unix_time + lead`.
    pub is_forecast: bool,
    /// The forecast's lead time, seconds.
    pub forecast_lead_secs: i64,
    /// Where the data really is, if not in this directory (LROSE's optional field).
    pub displaced_dir_path: Option<String>,
    /// The program that wrote the file.
    pub writer: String,
    /// The largest `unix_time` of this data set so far (never goes back).
    pub max_time: i64,
    /// LROSE's previous modification time of the info file (kept for its readers; 0).
    pub prev_mod_time: i64,
}

impl LdataInfo {
    /// An event for `rel_data_path` at `unix_time`, the extension taken from the path, the
    /// other fields LROSE's defaults (`none`, not a forecast).
    pub fn new(unix_time: i64, rel_data_path: &str) -> LdataInfo {
        let ext = std::path::Path::new(rel_data_path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_string();
        LdataInfo {
            unix_time,
            rel_data_path: rel_data_path.to_string(),
            data_type: ext.clone(),
            file_ext: ext,
            user_info1: "none".into(),
            user_info2: "none".into(),
            is_forecast: false,
            forecast_lead_secs: 0,
            displaced_dir_path: None,
            writer: "fmq".into(),
            max_time: unix_time,
            prev_mod_time: 0,
        }
    }

    /// `_latest_data_info.xml`, as LROSE writes it (escaped).
    pub fn to_lrose_xml(&self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.unix_time);
        let mut x = String::from("<latest_data_info>\n");
        let mut tag = |name: &str, value: &str| {
            x.push_str(&format!("  <{name}>{}</{name}>\n", escape(value)));
        };
        tag("unix_time", &self.unix_time.to_string());
        tag("year", &format!("{y:04}"));
        tag("month", &format!("{mo:02}"));
        tag("day", &format!("{d:02}"));
        tag("hour", &format!("{h:02}"));
        tag("min", &format!("{mi:02}"));
        tag("sec", &format!("{s:02}"));
        tag("rel_data_path", &self.rel_data_path);
        tag("file_ext", &self.file_ext);
        tag("data_type", &self.data_type);
        tag("user_info1", &self.user_info1);
        tag("user_info2", &self.user_info2);
        tag(
            "is_forecast",
            if self.is_forecast { "true" } else { "false" },
        );
        tag("forecast_lead_secs", &self.forecast_lead_secs.to_string());
        if let Some(p) = &self.displaced_dir_path {
            tag("displaced_dir_path", p);
        }
        tag("writer", &self.writer);
        tag("max_time", &self.max_time.to_string());
        tag("prev_mod_time", &self.prev_mod_time.to_string());
        x.push_str("</latest_data_info>\n");
        x
    }

    /// The ASCII `_latest_data_info`, as LROSE writes it: `unix_time Y M D h m s ` (with its
    /// trailing space), the extension, user_info1 (the writer when it is `none`), user_info2
    /// (the relative path when it is `none`), `0`, or `1` and the lead time.
    pub fn to_lrose_ascii(&self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.unix_time);
        let or = |v: &str, other: &str| {
            if v == "none" || v.is_empty() {
                other.to_string()
            } else {
                v.to_string()
            }
        };
        let mut a = format!("{} {y} {mo} {d} {h} {mi} {s} \n", self.unix_time);
        a.push_str(&format!("{}\n", one_line(&self.file_ext)));
        a.push_str(&format!(
            "{}\n",
            one_line(&or(&self.user_info1, &self.writer))
        ));
        a.push_str(&format!(
            "{}\n",
            one_line(&or(&self.user_info2, &self.rel_data_path))
        ));
        if self.is_forecast {
            a.push_str(&format!("1\n{}\n", self.forecast_lead_secs));
        } else {
            a.push_str("0\n");
        }
        a
    }

    /// Parses LROSE's `_latest_data_info.xml` (or an fmq-written one). The time comes from
    /// `unix_time`, else from the date fields; a missing `</latest_data_info>` or no time
    /// at all is an error.
    pub fn parse_lrose_xml(xml: &str) -> Result<LdataInfo, String> {
        if !xml.contains("</latest_data_info>") {
            return Err("no </latest_data_info>: not a latest_data_info XML".into());
        }
        let field = |name: &str| -> Option<String> {
            let open = format!("<{name}>");
            let close = format!("</{name}>");
            let start = xml.find(&open)? + open.len();
            let end = start + xml[start..].find(&close)?;
            Some(unescape(&xml[start..end]))
        };
        let int = |name: &str| field(name).and_then(|v| v.trim().parse::<i64>().ok());
        // The date fields when unix_time is missing; out-of-range ones (hostile or
        // damaged files) count as unreadable rather than overflow.
        let date = || -> Option<i64> {
            let (y, mo, d) = (int("year")?, int("month")?, int("day")?);
            let (h, mi, s) = (int("hour")?, int("min")?, int("sec")?);
            let ok = (-100_000..=100_000).contains(&y)
                && (1..=12).contains(&mo)
                && (1..=31).contains(&d)
                && (0..24).contains(&h)
                && (0..60).contains(&mi)
                && (0..=60).contains(&s);
            ok.then(|| from_civil(y, mo, d, h, mi, s))
        };
        let unix_time = int("unix_time")
            .or_else(date)
            .ok_or("neither unix_time nor the date fields can be read")?;
        let rel = field("rel_data_path").unwrap_or_default();
        let mut info = LdataInfo::new(unix_time, &rel);
        if let Some(v) = field("file_ext") {
            info.file_ext = v;
        }
        if let Some(v) = field("data_type") {
            info.data_type = v;
        }
        if let Some(v) = field("user_info1") {
            info.user_info1 = v;
        }
        if let Some(v) = field("user_info2") {
            info.user_info2 = v;
        }
        info.is_forecast = field("is_forecast").as_deref() == Some("true");
        if info.is_forecast {
            info.forecast_lead_secs = int("forecast_lead_secs").unwrap_or(0);
        }
        info.displaced_dir_path = field("displaced_dir_path");
        if let Some(v) = field("writer") {
            info.writer = v;
        }
        info.max_time = int("max_time").unwrap_or(unix_time);
        info.prev_mod_time = int("prev_mod_time").unwrap_or(0);
        Ok(info)
    }
}

/// A field of the ASCII file is one line: a newline inside it would shift every later line
/// for LROSE's reader, so it becomes a space.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// `&`, `<` and `>` as entities.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The five XML entities and numeric ones back; an `&` that starts none is kept (LROSE
/// writes text unescaped).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let entity = end.map(|e| &rest[1..e]);
        let ch = match entity {
            Some("amp") => Some('&'),
            Some("lt") => Some('<'),
            Some("gt") => Some('>'),
            Some("quot") => Some('"'),
            Some("apos") => Some('\''),
            Some(e) if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            Some(e) if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match (ch, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// (year, month, day, hour, minute, second) of a Unix time, UTC (also the `fmq` tool's
/// time formatting).
pub fn civil(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let sod = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
}

/// The Unix time of a UTC date (Hinnant's days_from_civil).
fn from_civil(y: i64, m: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_and_back_agree_on_known_instants() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_767_269_040), (2026, 1, 1, 12, 4, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        for t in [0, 951_782_400, 1_767_269_040, 4_102_444_799, -86_400] {
            let (y, m, d, h, mi, s) = civil(t);
            assert_eq!(from_civil(y, m, d, h, mi, s), t);
        }
    }

    #[test]
    fn text_with_markup_round_trips_through_the_xml() {
        let mut i = LdataInfo::new(1_767_269_040, "a<b>&c/it's \"x\".nc");
        i.user_info1 = "&amp; literal".into();
        let xml = i.to_lrose_xml();
        assert!(xml.contains("<rel_data_path>a&lt;b&gt;&amp;c/it's \"x\".nc</rel_data_path>"));
        assert_eq!(LdataInfo::parse_lrose_xml(&xml).unwrap(), i);
    }

    #[test]
    fn unescaped_lrose_text_is_read_as_written() {
        assert_eq!(unescape("a & b &c; &#65;&#x42;"), "a & b &c; AB");
    }

    #[test]
    fn a_forecast_has_its_lead_on_the_ascii_files_last_line() {
        let mut i = LdataInfo::new(60, "f.mdv");
        i.is_forecast = true;
        i.forecast_lead_secs = 3600;
        assert!(i.to_lrose_ascii().ends_with("\n1\n3600\n"));
        let x = LdataInfo::parse_lrose_xml(&i.to_lrose_xml()).unwrap();
        assert_eq!((x.is_forecast, x.forecast_lead_secs), (true, 3600));
    }

    #[test]
    fn xml_without_its_end_tag_or_time_is_refused() {
        assert!(LdataInfo::parse_lrose_xml("<latest_data_info>").is_err());
        assert!(LdataInfo::parse_lrose_xml("<latest_data_info></latest_data_info>").is_err());
    }
}
