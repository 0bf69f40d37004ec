//! The editor's library (the costumes, sounds, backdrops and sprites the
//! "Choose a …" dialogs offer): which files its catalogues name, and which
//! of them are stored.
//!
//! The catalogues ship with the editor (`<editor dir>/libraries/*.json`,
//! listing each file as `md5ext`); the files themselves do not, and are
//! stored as ordinary assets by `cubby library fetch|import`
//! ([`crate::assets::store_unowned`]: deduplicated like any asset, owned by
//! no user). The editor loads them through the public asset routes, which
//! need no login.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use entity::asset;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::assets::AssetName;
use crate::error::Result;
use crate::Ctx;

/// The catalogue files, relative to the editor's directory.
pub const CATALOGUES: &[&str] = &[
    "libraries/costumes.json",
    "libraries/sounds.json",
    "libraries/backdrops.json",
    "libraries/sprites.json",
];

/// Every file the catalogues name, each once, in name order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub files: Vec<AssetName>,
}

/// Why the catalogues could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("no library catalogue in {0} (is it the editor's dist/ folder?)")]
    NoCatalogue(PathBuf),
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a library catalogue: {1}")]
    Parse(PathBuf, String),
}

impl Catalogue {
    /// Reads every catalogue in `editor_dir`. Costumes, sounds and backdrops
    /// list their files; each sprite lists its costumes and sounds. An entry
    /// is named by `md5ext`, or by `assetId` and `dataFormat`. A name that
    /// is not `<md5>.<ext>` of a storable type is skipped (the stock
    /// catalogues have none).
    pub fn read(editor_dir: &Path) -> std::result::Result<Catalogue, CatalogueError> {
        let mut names = BTreeSet::new();
        let mut found = 0;
        for rel in CATALOGUES {
            let path = editor_dir.join(rel);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CatalogueError::Read(path, e)),
            };
            found += 1;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| CatalogueError::Parse(path.clone(), e.to_string()))?;
            let items = value
                .as_array()
                .ok_or_else(|| CatalogueError::Parse(path.clone(), "not a list".into()))?;
            for item in items {
                collect(item, &mut names);
                for key in ["costumes", "sounds"] {
                    if let Some(list) = item.get(key).and_then(|v| v.as_array()) {
                        list.iter().for_each(|c| collect(c, &mut names));
                    }
                }
            }
        }
        if found == 0 {
            return Err(CatalogueError::NoCatalogue(editor_dir.to_owned()));
        }
        let files = names
            .into_iter()
            .filter_map(|n| AssetName::parse_uploadable(&n).ok())
            .collect();
        Ok(Catalogue { files })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The file one catalogue entry names, if it names one.
fn collect(item: &serde_json::Value, names: &mut BTreeSet<String>) {
    let md5ext = item.get("md5ext").and_then(|v| v.as_str());
    let name = match md5ext {
        Some(n) => Some(n.to_owned()),
        None => match (
            item.get("assetId").and_then(|v| v.as_str()),
            item.get("dataFormat").and_then(|v| v.as_str()),
        ) {
            (Some(id), Some(fmt)) => Some(format!("{id}.{fmt}")),
            _ => None,
        },
    };
    if let Some(n) = name {
        names.insert(n.to_ascii_lowercase());
    }
}

/// How many md5s one query asks about (well under every backend's limit
/// of bound parameters).
const QUERY_CHUNK: usize = 500;

/// The catalogue's files that are not stored yet, in catalogue order.
pub async fn missing(ctx: &Ctx, catalogue: &Catalogue) -> Result<Vec<AssetName>> {
    let mut stored: HashSet<(String, String)> = HashSet::new();
    for chunk in catalogue.files.chunks(QUERY_CHUNK) {
        let md5s: Vec<String> = chunk.iter().map(|n| n.md5.clone()).collect();
        let rows: Vec<(String, String)> = asset::Entity::find()
            .select_only()
            .column(asset::Column::Md5)
            .column(asset::Column::AssetType)
            .filter(asset::Column::Md5.is_in(md5s))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        stored.extend(rows);
    }
    Ok(catalogue
        .files
        .iter()
        .filter(|n| !stored.contains(&(n.md5.clone(), n.asset_type.as_str().to_owned())))
        .cloned()
        .collect())
}

/// How many of the catalogue's files are stored.
pub async fn stored_count(ctx: &Ctx, catalogue: &Catalogue) -> Result<usize> {
    Ok(catalogue.len() - missing(ctx, catalogue).await?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprites_name_their_costumes_and_sounds_and_duplicates_count_once() {
        let dir = std::env::temp_dir().join(format!("cubby-lib-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("libraries")).unwrap();
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        let c = "00000000000000000000000000000000";
        let write = |name: &str, text: String| {
            std::fs::write(dir.join("libraries").join(name), text).unwrap()
        };
        write("costumes.json", format!(r#"[{{"md5ext": "{a}.svg"}}]"#));
        write(
            "sprites.json",
            format!(
                r#"[{{"name": "S", "costumes": [{{"md5ext": "{a}.svg"}}, {{"assetId": "{b}", "dataFormat": "png"}}],
                     "sounds": [{{"md5ext": "{c}.wav"}}, {{"md5ext": "nonsense"}}]}}]"#
            ),
        );
        let cat = Catalogue::read(&dir).unwrap();
        let names: Vec<String> = cat.files.iter().map(|n| n.file_name()).collect();
        assert_eq!(
            names,
            vec![format!("{c}.wav"), format!("{a}.svg"), format!("{b}.png")]
        );
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            Catalogue::read(&dir),
            Err(CatalogueError::NoCatalogue(_))
        ));
    }
}
