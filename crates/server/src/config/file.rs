//! The optional TOML file (`--config` or `GATEHOUSE_CONFIG`) and where each setting came from.

use super::ConfigError;
use super::read::edit_distance;
use super::settings::SETTINGS;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where settings come from: the environment first, then the file.
pub struct Sources {
    pub(super) file: BTreeMap<String, String>,
    pub(super) path: Option<PathBuf>,
}

impl Sources {
    /// A setting's value and its source (`env` or the file), if set.
    #[must_use]
    pub fn get(&self, setting: &str) -> Option<(String, String)> {
        if let Ok(v) = std::env::var(setting) {
            return Some((v, "env".into()));
        }
        let path = self.path.as_ref().map_or_else(String::new, |p| p.display().to_string());
        self.file
            .get(&file_key(setting))
            .map(|v| (v.clone(), format!("file {path}")))
    }
}

/// The TOML key of a setting: its name without `GATEHOUSE_`, lowercase (`GATEHOUSE_BIND` -> `bind`,
/// `DATABASE_URL` -> `database_url`).
#[must_use]
pub fn file_key(setting: &str) -> String {
    setting
        .strip_prefix("GATEHOUSE_")
        .unwrap_or(setting)
        .to_ascii_lowercase()
}

/// The file's settings by TOML key, each as the text an environment variable would hold.
pub(super) fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let err = |message: String| ConfigError {
        setting: "GATEHOUSE_CONFIG",
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| err(format!("{} is not valid TOML: {e}", path.display())))?;
    let known: Vec<String> = SETTINGS
        .iter()
        .map(|s| file_key(s.name))
        .filter(|k| k != "config")
        .collect();
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if !known.contains(&key) {
            let nearest = known
                .iter()
                .min_by_key(|k| edit_distance(k, &key))
                .cloned()
                .unwrap_or_default();
            return Err(err(format!(
                "unknown key {key} in {}; did you mean {nearest}?",
                path.display()
            )));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(err(format!(
                    "key {key} in {}: {other} is not a string, number, boolean or list",
                    path.display()
                )));
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}
