//! `cubby editor fetch`: installs the stock Scratch editor. The npm package
//! `@scratch/scratch-gui-standalone` (AGPL-3.0-only) is fetched with
//! `npm pack` and only its `dist/` is kept; it is never part of this
//! repository. Needs `npm` and `tar` on the PATH.

use std::path::Path;
use std::process::Command;

pub const DEFAULT_VERSION: &str = "15.1.1";
const PACKAGE: &str = "@scratch/scratch-gui-standalone";

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", cmd.get_program()))
    }
}

pub fn fetch(dir: &Path, version: &str) -> Result<(), String> {
    if dir.join("scratch-gui-standalone.js").is_file() {
        println!("editor already installed in {}", dir.display());
        return Ok(());
    }
    let work = tempfile_dir()?;
    println!("fetching {PACKAGE}@{version} (about 150 MB) ...");
    let result = (|| {
        run(Command::new("npm")
            .args(["pack", "--silent", &format!("{PACKAGE}@{version}")])
            .current_dir(&work)
            .stdout(std::process::Stdio::null()))?;
        let tarball = work.join(format!("scratch-scratch-gui-standalone-{version}.tgz"));
        run(Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&work)
            .arg("package/dist"))?;
        let dist = work.join("package/dist");
        // Source maps and the non-standalone library are not served.
        remove_unneeded(&dist);
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let _ = std::fs::remove_dir_all(dir);
        move_dir(&dist, dir)
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    println!(
        "editor installed in {0}; serve it with CUBBY_EDITOR_DIR={0}",
        dir.display()
    );
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("cubby-editor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn move_dir(from: &Path, to: &Path) -> Result<(), String> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    // Across file systems: copy with `cp -r`, then the temp dir is removed.
    run(Command::new("cp").arg("-r").arg(from).arg(to))
}

fn remove_unneeded(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            remove_unneeded(&path);
        } else if name.ends_with(".map") || name == "scratch-gui.js" {
            let _ = std::fs::remove_file(&path);
        }
    }
}
