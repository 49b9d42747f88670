//! `nightshift kb import|search|show`: the knowledge base on the record directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use nightshift_core::knowledge::{Entry, Signature, parse_document};
use nightshift_core::text::printable;
use nightshift_store::KbQuery;

use super::incidents::open;
use crate::cli::{KbCommand, Output};

/// Runs `kb import|search|show`.
pub fn run(cmd: KbCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        match cmd {
            KbCommand::Import { dir, store } => {
                let entries = match read_documents(&dir) {
                    Ok(entries) => entries,
                    Err(e) => {
                        eprintln!("error: {e}");
                        eprintln!("nothing was imported");
                        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
                    }
                };
                let embeddings = match embeddings_of(&store) {
                    Ok(e) => e,
                    Err(code) => return Ok(code),
                };
                let s = open(&store).await?;
                s.kb_put(&entries).await?;
                if let Some(e) = &embeddings {
                    // Made now rather than by the agent's next catch-up; a failure leaves
                    // them to it.
                    let mut made = 0;
                    loop {
                        match e.catch_up(&s, 32).await {
                            Ok(0) => break,
                            Ok(n) => made += n,
                            Err(why) => {
                                eprintln!(
                                    "warning: embedding vectors not made ({why}); the agent makes them later"
                                );
                                break;
                            }
                        }
                    }
                    if made > 0 {
                        println!("embedded {made} entries ({})", e.space());
                    }
                }
                let postmortems = entries
                    .iter()
                    .filter(|e| e.source.as_str() == "postmortem")
                    .count();
                println!(
                    "imported {} documents ({postmortems} postmortems, {} runbooks) from {}",
                    entries.len(),
                    entries.len() - postmortems,
                    dir.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            KbCommand::Search {
                text,
                store,
                limit,
                output,
            } => {
                let embeddings = match embeddings_of(&store) {
                    Ok(e) => e,
                    Err(code) => return Ok(code),
                };
                let s = open(&store).await?;
                let text = text.join(" ");
                let vector =
                    nightshift_agent::learn::query_vector(embeddings.as_ref(), text.clone()).await;
                let query = KbQuery {
                    text,
                    signature: Signature::default(),
                    exclude: None,
                    before: None,
                    vector,
                };
                let hits = s.kb_search(&query, limit).await?;
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&hits)?),
                    Output::Table => {
                        println!(
                            "{:<22} {:<10} {:<26} {:<10} {:<5} TITLE",
                            "ID", "SOURCE", "CATEGORY", "OUTCOME", "SCORE"
                        );
                        for h in &hits {
                            let e = &h.entry;
                            println!(
                                "{:<22} {:<10} {:<26} {:<10} {:<5.2} {}",
                                printable(&e.id),
                                e.source.as_str(),
                                e.category().map_or("-", |c| c.as_str()),
                                e.outcome.as_str(),
                                h.similarity.max(h.lexical),
                                printable(&e.title)
                            );
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            KbCommand::Show { id, store, output } => {
                let s = open(&store).await?;
                let Some(e) = s.kb_get(&id).await? else {
                    eprintln!("error: no knowledge-base entry {id}");
                    return Ok(ExitCode::FAILURE);
                };
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&e)?),
                    Output::Table => print!("{}", describe(&e)),
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// The embeddings endpoint of the configuration `--config` names, if it has one; a
/// configuration that does not load, or names a key variable that is not set, is reported and
/// becomes the exit code.
fn embeddings_of(
    store: &crate::cli::StoreArgs,
) -> Result<Option<nightshift_agent::learn::Embeddings>, ExitCode> {
    let Some(path) = &store.config else {
        return Ok(None);
    };
    let bad = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(super::EXIT_BAD_INPUT)
    };
    let config = nightshift::config::AgentConfig::load(path).map_err(|e| bad(e.to_string()))?;
    config
        .embeddings()
        .map_err(|e| bad(format!("{}: {e}", path.display())))
}

/// Every `*.md` under `dir` (or `dir` itself, a file), read into entries; the first broken
/// one is the error, naming its file, key and line.
fn read_documents(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
    } else {
        collect(dir, &mut files)?;
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{}: no Markdown files (*.md) to import", dir.display());
    }
    let now = chrono::Utc::now();
    let mut entries: Vec<Entry> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("unable to read {}", f.display()))?;
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entry = parse_document(&f.display().to_string(), &stem, &text, now)?;
        if let Some(other) = entries.iter().find(|e| e.id == entry.id) {
            anyhow::bail!(
                "{}: its id {} is also that of {}; file names must differ",
                f.display(),
                entry.id,
                other.file.as_deref().unwrap_or("another file")
            );
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let list =
        std::fs::read_dir(dir).with_context(|| format!("unable to read {}", dir.display()))?;
    for item in list {
        let path = item?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// An entry for people.
fn describe(e: &Entry) -> String {
    let mut out = format!(
        "{}  {}  {}\n{}\n",
        printable(&e.id),
        e.source.as_str(),
        e.outcome.as_str(),
        printable(&e.title)
    );
    let sig = &e.signature;
    let mut line = |label: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("{label:<12} {}\n", printable(&value)));
        }
    };
    line("when", e.occurred_at.to_rfc3339());
    line(
        "category",
        sig.category.map(|c| c.to_string()).unwrap_or_default(),
    );
    line("resource", sig.resource.clone().unwrap_or_default());
    line("services", e.services.join(", "));
    line("alerts", sig.alerts.join(", "));
    line(
        "reasons",
        [sig.container_reasons.clone(), sig.event_reasons.clone()]
            .concat()
            .join(", "),
    );
    line("rollout", sig.rollout_change.join("; "));
    line(
        "actions",
        e.actions
            .iter()
            .map(|a| {
                let how = match a.fixed {
                    Some(true) => " (fixed it)",
                    Some(false) => " (did not fix it)",
                    None => "",
                };
                format!(
                    "{}{}{how}",
                    a.action,
                    a.target
                        .as_ref()
                        .map(|t| format!(" {t}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    line(
        "mitigated",
        e.mitigated_after_s
            .map(|s| format!("{s}s after opening"))
            .unwrap_or_default(),
    );
    line("approved by", e.approved_by.join(", "));
    line("file", e.file.clone().unwrap_or_default());
    for t in &sig.log_templates {
        out.push_str(&format!("log          {}\n", printable(t)));
    }
    if !e.summary.is_empty() {
        out.push_str(&format!("\n{}\n", printable(&e.summary)));
    }
    for n in &e.notes {
        out.push_str(&format!(
            "\nnote by {} at {}: {}\n",
            printable(&n.by),
            n.at.to_rfc3339(),
            printable(&n.text)
        ));
    }
    out
}
