//! `cubby editor fetch`: installs the stock Scratch editor. The npm package
//! `@scratch/scratch-gui-standalone` (AGPL-3.0-only) is fetched with
//! `npm pack` and only its `dist/` is kept; it is never part of this
//! repository. Needs `npm` and `tar` on the PATH.
//!
//! Beside each compressible file of 1 KiB or more (JavaScript, CSS, JSON,
//! SVG, HTML, WebAssembly, text) it stores a brotli (quality 11) and a gzip
//! (level 9) copy, `<file>.br` and `<file>.gz`, which the static file route
//! serves to browsers that accept them: a class that opens the editor at
//! once then costs the server file reads, not a compression of the 17 MB
//! bundle per student. On an editor installed without them, `fetch` adds
//! the missing copies (and redoes any older than its file).

use std::io::Write;
use std::path::{Path, PathBuf};
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
        return precompress_and_report(dir);
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
    precompress_and_report(dir)?;
    println!(
        "editor installed in {0}; serve it with CUBBY_EDITOR_DIR={0}",
        dir.display()
    );
    Ok(())
}

fn precompress_and_report(dir: &Path) -> Result<(), String> {
    println!("compressing the editor's files (brotli 11, gzip 9; about a minute) ...");
    let done = precompress(dir)?;
    println!(
        "precompressed {} files ({} up to date): {:.1} MB -> brotli {:.1} MB, gzip {:.1} MB",
        done.compressed,
        done.fresh,
        mb(done.original_bytes),
        mb(done.br_bytes),
        mb(done.gz_bytes)
    );
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// The smallest file worth a compressed copy (below it, headers dominate).
pub const PRECOMPRESS_MIN_BYTES: u64 = 1024;

/// Whether files of this name are compressible (text, or WebAssembly).
pub fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        "js" | "mjs" | "css" | "json" | "svg" | "html" | "htm" | "wasm" | "txt" | "hex" | "xml"
    )
}

/// The precompressed copy of `file` for `suffix` (`br` or `gz`).
pub fn copy_path(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// What [`precompress`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Precompressed {
    /// Files given new copies.
    pub compressed: usize,
    /// Files whose copies were there and not older than the file.
    pub fresh: usize,
    /// Sizes of the compressed files (new copies only).
    pub original_bytes: u64,
    pub br_bytes: u64,
    pub gz_bytes: u64,
}

/// Writes the missing (or stale) `.br` and `.gz` copies of every
/// compressible file of at least [`PRECOMPRESS_MIN_BYTES`] under `dir`.
/// Each copy is written to a temporary name and renamed, so a server never
/// serves half a copy.
pub fn precompress(dir: &Path) -> Result<Precompressed, String> {
    let mut done = Precompressed::default();
    for file in compressible_files(dir)? {
        if is_fresh(&file, "br") && is_fresh(&file, "gz") {
            done.fresh += 1;
            continue;
        }
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        // The two encoders side by side: brotli 11 is the slow one.
        let (br, gz) = std::thread::scope(|s| {
            let br = s.spawn(|| brotli_11(&bytes));
            let gz = gzip_9(&bytes);
            (br.join(), gz)
        });
        let br = br.map_err(|_| "the brotli encoder panicked".to_owned())??;
        let gz = gz?;
        write_atomically(&copy_path(&file, "br"), &br)?;
        write_atomically(&copy_path(&file, "gz"), &gz)?;
        done.compressed += 1;
        done.original_bytes += bytes.len() as u64;
        done.br_bytes += br.len() as u64;
        done.gz_bytes += gz.len() as u64;
    }
    Ok(done)
}

fn compressible_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if compressible(&path) && meta.len() >= PRECOMPRESS_MIN_BYTES {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The copy exists and is not older than its file.
pub fn is_fresh(file: &Path, suffix: &str) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(file), modified(&copy_path(file, suffix))) {
        (Some(original), Some(copy)) => copy >= original,
        _ => false,
    }
}

fn brotli_11(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        // The largest window plain brotli (and so every browser) allows: the
        // 17 MB bundle repeats itself over more than the default 4 MiB.
        lgwin: 24,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 4);
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)
        .map_err(|e| format!("brotli: {e}"))?;
    Ok(out)
}

fn gzip_9(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(9),
    );
    enc.write_all(bytes).map_err(|e| format!("gzip: {e}"))?;
    enc.finish().map_err(|e| format!("gzip: {e}"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = copy_path(path, "tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn copies_decompress_to_the_file_and_small_or_binary_files_get_none() {
        let dir = std::env::temp_dir().join(format!("cubby-precompress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("chunks")).unwrap();
        let js: Vec<u8> = (0..4000)
            .flat_map(|i| format!("var x{i} = {i};\n").into_bytes())
            .collect();
        std::fs::write(dir.join("chunks/big.js"), &js).unwrap();
        std::fs::write(dir.join("small.js"), "var a = 1;").unwrap();
        std::fs::write(dir.join("picture.png"), vec![7u8; 5000]).unwrap();
        let done = precompress(&dir).unwrap();
        assert_eq!((done.compressed, done.fresh), (1, 0));
        let big = dir.join("chunks/big.js");
        let br = std::fs::read(copy_path(&big, "br")).unwrap();
        let mut plain = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, js);
        let gz = std::fs::read(copy_path(&big, "gz")).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, js);
        assert!(!copy_path(&dir.join("small.js"), "br").exists());
        assert!(!copy_path(&dir.join("picture.png"), "gz").exists());
        // A second run finds them fresh.
        assert_eq!(precompress(&dir).unwrap().fresh, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
