//! Containers that run a command to its end: the sim reads a container's `command` and `args`
//! as a small shell would, when they are made of commands it knows (`echo`, `printf`,
//! `sleep`, `exit`, `true`, `false`, `:`), directly or through `sh -c` / `bash -c`. Such a
//! container prints what its `echo`s print, at the time they run, takes as long as its
//! `sleep`s, and exits with the code of its `exit` or of its last command. That is how a
//! Job's pods succeed, fail or run past a deadline in the simulated cluster.

use std::time::Duration;

/// What a scripted container does from its start.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Lines printed, at their offset from the start in ms.
    pub lines: Vec<(i64, String)>,
    /// When it exits, in ms after its start.
    pub duration_ms: i64,
    /// Its exit code.
    pub exit_code: i32,
}

/// How long the process of a Job's pod runs when its command is not one the sim reads: the
/// work of an image it knows nothing of, which ends well.
const DEFAULT_JOB_RUN_MS: i64 = 5_000;

impl Script {
    /// The script of a Job's pod whose command the sim cannot read: a few seconds of work,
    /// then success.
    pub fn opaque_job() -> Self {
        Script {
            lines: Vec::new(),
            duration_ms: DEFAULT_JOB_RUN_MS,
            exit_code: 0,
        }
    }
}

/// The script of a container with this `command` and `args`, if every command in it is one the
/// sim knows.
pub fn parse(command: &[String], args: &[String]) -> Option<Script> {
    let argv: Vec<&str> = command.iter().chain(args).map(String::as_str).collect();
    let first = *argv.first()?;
    let base = first.rsplit('/').next().unwrap_or(first);
    let text = if matches!(base, "sh" | "bash" | "ash" | "dash" | "zsh") {
        let flag = argv.get(1)?;
        if !(flag.starts_with('-') && flag.contains('c')) {
            return None;
        }
        argv.get(2)?.to_string()
    } else {
        // A command run directly: its words as they are.
        return run(&[argv.iter().map(|s| s.to_string()).collect()]);
    };
    run(&commands(&text)?)
}

/// Runs the commands, in order, to their end.
fn run(commands: &[Vec<String>]) -> Option<Script> {
    let mut t = 0i64;
    let mut lines = Vec::new();
    let mut status = 0;
    for words in commands {
        let Some((name, rest)) = words.split_first() else {
            continue;
        };
        let name = name.rsplit('/').next().unwrap_or(name);
        match name {
            "echo" => {
                let mut rest = rest;
                while rest
                    .first()
                    .is_some_and(|f| matches!(f.as_str(), "-n" | "-e" | "-E"))
                {
                    rest = &rest[1..];
                }
                lines.push((t, rest.join(" ")));
                status = 0;
            }
            "printf" => {
                let mut it = rest.iter();
                let format = it.next().cloned().unwrap_or_default();
                let mut out = String::new();
                let mut args = it;
                let mut chars = format.chars().peekable();
                while let Some(c) = chars.next() {
                    match (c, chars.peek()) {
                        ('%', Some('s' | 'd' | 'i')) => {
                            chars.next();
                            out.push_str(args.next().map(String::as_str).unwrap_or(""));
                        }
                        ('%', Some('%')) => {
                            chars.next();
                            out.push('%');
                        }
                        ('\\', Some('n')) => {
                            chars.next();
                            out.push('\n');
                        }
                        ('\\', Some('t')) => {
                            chars.next();
                            out.push('\t');
                        }
                        _ => out.push(c),
                    }
                }
                for l in out.lines() {
                    lines.push((t, l.to_string()));
                }
                status = 0;
            }
            "sleep" => {
                let mut total = 0i64;
                for a in rest {
                    total += sleep_ms(a)?;
                }
                t += total;
                status = 0;
            }
            "exit" => {
                let code = match rest.first() {
                    Some(c) => c.parse::<i32>().ok()?,
                    None => status,
                };
                return Some(Script {
                    lines,
                    duration_ms: t.max(100),
                    exit_code: code & 0xff,
                });
            }
            "true" | ":" => status = 0,
            "false" => status = 1,
            _ => return None,
        }
    }
    Some(Script {
        lines,
        duration_ms: t.max(100),
        exit_code: status,
    })
}

/// `sleep`'s argument in ms: seconds, or with a suffix `s`, `m`, `h`, `d`; `infinity` is a
/// very long time.
fn sleep_ms(arg: &str) -> Option<i64> {
    if arg == "infinity" {
        return Some(i64::MAX / 4);
    }
    let (num, unit) = match arg.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&arg[..i], &arg[i..]),
        None => (arg, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs.max(0.0)).as_millis() as i64)
}

/// The commands of a shell script: split on newlines, `;`, `&&` and `||`, each into words with
/// quotes removed. `None` for what this reader does not follow (pipes, redirections,
/// substitutions, control structures).
fn commands(text: &str) -> Option<Vec<Vec<String>>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        ch => word.push(ch),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let n = chars.next()?;
                            if !matches!(n, '"' | '\\' | '$' | '`') {
                                word.push('\\');
                            }
                            word.push(n);
                        }
                        '$' | '`' => return None,
                        ch => word.push(ch),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => word.push(n),
                }
            }
            ' ' | '\t' => end_word(&mut words, &mut word, &mut in_word),
            '\n' | ';' => {
                end_word(&mut words, &mut word, &mut in_word);
                out.push(std::mem::take(&mut words));
            }
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                end_word(&mut words, &mut word, &mut in_word);
                out.push(std::mem::take(&mut words));
            }
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                end_word(&mut words, &mut word, &mut in_word);
                out.push(std::mem::take(&mut words));
            }
            '#' if !in_word => {
                // A comment to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                end_word(&mut words, &mut word, &mut in_word);
                out.push(std::mem::take(&mut words));
            }
            '|' | '&' | '>' | '<' | '$' | '`' | '(' | ')' | '{' | '}' => return None,
            ch => {
                in_word = true;
                word.push(ch);
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
    out.push(words);
    out.retain(|w| !w.is_empty());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn shell_scripts_print_sleep_and_exit() {
        let sc = parse(
            &s(&["sh", "-c"]),
            &s(&["echo 'migrating orders'; sleep 3; echo \"done: 42 rows\"; exit 0"]),
        )
        .unwrap();
        assert_eq!(
            sc.lines,
            vec![
                (0, "migrating orders".into()),
                (3000, "done: 42 rows".into())
            ]
        );
        assert_eq!((sc.duration_ms, sc.exit_code), (3000, 0));
        let fail = parse(&s(&["/bin/sh", "-c", "echo boom && exit 3"]), &[]).unwrap();
        assert_eq!(fail.exit_code, 3);
        let last = parse(&s(&["bash", "-ec", "sleep 1m\nfalse"]), &[]).unwrap();
        assert_eq!((last.duration_ms, last.exit_code), (60_000, 1));
    }

    #[test]
    fn direct_commands_and_unknown_ones() {
        let echo = parse(&s(&["echo", "hello", "world"]), &[]).unwrap();
        assert_eq!(echo.lines, vec![(0, "hello world".into())]);
        assert_eq!(
            parse(&s(&["sleep"]), &s(&["3600"])).unwrap().duration_ms,
            3_600_000
        );
        assert_eq!(parse(&s(&["/app/server", "--port=8080"]), &[]), None);
        assert_eq!(
            parse(&s(&["sh", "-c", "curl http://x | tee out"]), &[]),
            None
        );
        assert_eq!(parse(&[], &[]), None);
    }
}
