//! The editor page's banner when the editor's library files are not stored
//! (`cubby library fetch` has not run): without them the "Choose a Sprite"
//! dialog shows empty tiles and a picked sprite cannot load its costumes,
//! so the page says so, with the command that fixes it.
//!
//! Cheap: the catalogue is read once at start-up; the count of its stored
//! files (a few `md5 IN (…)` queries) is kept for [`RECHECK`] while the
//! library is incomplete, and for good once it is complete (library
//! assets are never deleted). A banner a little late or early is only a
//! hint; nothing depends on it.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use maud::{html, Markup};
use service::library::Catalogue;

/// How long an "incomplete" count is trusted before it is taken again.
pub const RECHECK: Duration = Duration::from_secs(30);

/// How many of the catalogue's files are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibraryStatus {
    pub stored: usize,
    pub total: usize,
}

impl LibraryStatus {
    pub fn complete(&self) -> bool {
        self.stored >= self.total
    }
}

/// The catalogue and the last count (see the module's comment).
pub struct LibraryCheck {
    catalogue: Option<Catalogue>,
    last: Mutex<Option<(Instant, LibraryStatus)>>,
}

impl LibraryCheck {
    /// Reads the catalogue of the editor in `editor_dir`, if there is one.
    pub fn new(editor_dir: Option<&Path>) -> Self {
        let catalogue = editor_dir.and_then(|dir| match Catalogue::read(dir) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::info!(error = %e, "no editor library catalogue");
                None
            }
        });
        Self {
            catalogue,
            last: Mutex::new(None),
        }
    }

    /// The library's status; `None` when there is no catalogue or the
    /// count failed (then no banner: it would be a guess).
    pub async fn status(&self, ctx: &service::Ctx) -> Option<LibraryStatus> {
        let catalogue = self.catalogue.as_ref()?;
        let cached = *self.last.lock().ok()?;
        if let Some((at, status)) = cached {
            if status.complete() || at.elapsed() < RECHECK {
                return Some(status);
            }
        }
        let stored = match service::library::stored_count(ctx, catalogue).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the library's stored files");
                return None;
            }
        };
        let status = LibraryStatus {
            stored,
            total: catalogue.len(),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), status));
        }
        Some(status)
    }
}

/// The banner above the editor, or nothing when the library is complete
/// (or its state unknown).
pub fn banner(status: Option<LibraryStatus>) -> Markup {
    let Some(status) = status.filter(|s| !s.complete()) else {
        return html! {};
    };
    html! {
        div id="cubby-library-banner" role="status"
            style="padding:.5rem 1rem;background:#fff4c2;color:#3d2e00;border-bottom:2px solid #e0b000;font:16px/1.4 system-ui,sans-serif" {
            strong { "The sprite, costume, sound and backdrop library is not installed on this server" }
            " (" (status.stored) " of " (status.total) " files stored), so its pictures stay empty. "
            "Whoever runs cubby can install it with "
            code { "cubby library fetch" }
            " (or, without internet, " code { "cubby library import PATH" } ")."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_shows_only_while_files_are_missing() {
        let missing = banner(Some(LibraryStatus {
            stored: 3,
            total: 7,
        }))
        .into_string();
        assert!(missing.contains(r#"role="status""#), "{missing}");
        assert!(missing.contains("cubby library fetch"), "{missing}");
        assert!(missing.contains("3 of 7 files stored"), "{missing}");
        let complete = LibraryStatus {
            stored: 7,
            total: 7,
        };
        assert_eq!(banner(Some(complete)).into_string(), "");
        assert_eq!(banner(None).into_string(), "");
    }
}
