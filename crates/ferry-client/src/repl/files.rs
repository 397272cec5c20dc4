//! Remote and local folders and names: cd, pwd, lcd, lpwd, mkdir, rmdir, rename, size, DELF,
//! and help.

use std::path::PathBuf;

use super::input::NoInput;
use super::session::Session;
use super::table::command_list;
use super::words::{expand_home, home_dir};
use super::{Flow, Input, Repl, interruptible, say};
use crate::ClientError;

impl Repl {
    pub(super) fn delf(&mut self, arguments: &[String], input: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: DELF file_path");
            return Flow::Continue;
        };
        let question = format!("Are you sure you want to delete {path}? (Y/N) ");
        let confirmed = loop {
            let Some(answer) = input.read_line(&question) else {
                break false;
            };
            match answer.trim().to_ascii_uppercase().as_str() {
                "Y" | "YES" => break true,
                "N" | "NO" => break false,
                _ => {}
            }
        };
        if !confirmed {
            say("Delete abandoned by user!");
            return Flow::Continue;
        }
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        match interruptible(&self.runtime, self.interactive, connection.delete(path)) {
            Ok(_) => {
                say("File successfully deleted");
                self.refresh_names();
            }
            Err(error) => self.fail(&error),
        }
        Flow::Continue
    }

    /// Runs a connection command that prints one line on success.
    pub(super) fn simple_action<F>(&mut self, action: F) -> bool
    where
        F: for<'a> FnOnce(
            &'a mut Session,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<String, ClientError>> + 'a>,
        >,
    {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        match interruptible(&self.runtime, self.interactive, action(connection)) {
            Ok(message) => {
                say(&message);
                true
            }
            Err(error) => {
                self.fail(&error);
                false
            }
        }
    }

    pub(super) fn cd(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let path = arguments.first().cloned().unwrap_or_else(|| "/".into());
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let result = interruptible(&self.runtime, self.interactive, connection.cd(&path));
        match result {
            Ok(folder) => {
                say(&format!("Remote folder: {folder}"));
                self.remote_folder = Some(folder);
                self.refresh_names();
            }
            Err(error) => self.fail(&error),
        }
        Flow::Continue
    }

    pub(super) fn pwd(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        self.simple_action(|c| Box::pin(async move { c.pwd().await }));
        Flow::Continue
    }

    pub(super) fn lcd(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let target = match arguments.first() {
            Some(path) => expand_home(path),
            None => home_dir().unwrap_or_else(|| PathBuf::from(".")),
        };
        match std::env::set_current_dir(&target) {
            Ok(()) => self.lpwd(&[], &mut NoInput),
            Err(error) => {
                say(&format!("Error: {}: {error}", target.display()));
                Flow::Continue
            }
        }
    }

    /// `set` shows the settings; `set limit-rate RATE|off` and `set verify on|off` change one.
    pub(super) fn set(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        const USAGE: &str = "Usage: set [limit-rate RATE|off] [verify on|off]";
        match arguments {
            [] => {
                let rate = self
                    .options
                    .connect
                    .limit_rate
                    .map_or_else(|| "off".to_string(), |rate| format!("{rate} bytes/s"));
                say(&format!("limit-rate {rate}"));
                let verify = if self.options.verify { "on" } else { "off" };
                say(&format!("verify {verify}"));
            }
            [name, value] if name == "verify" => match value.as_str() {
                "on" | "yes" | "1" => self.options.verify = true,
                "off" | "no" | "0" => self.options.verify = false,
                _ => say(USAGE),
            },
            [name, value] if name == "limit-rate" => {
                let rate = if value == "off" || value == "0" {
                    None
                } else {
                    match crate::rate::parse_rate(value) {
                        Ok(rate) => Some(rate),
                        Err(why) => {
                            say(&format!("Error: {why}"));
                            return Flow::Continue;
                        }
                    }
                };
                self.options.connect.limit_rate = rate;
                self.options.ssh.limit_rate = rate;
                if let Some(connection) = self.connection.as_mut() {
                    connection.set_limit_rate(rate);
                }
                if let Some(connector) = self.connector.as_mut() {
                    connector.set_limit_rate(rate);
                }
            }
            _ => say(USAGE),
        }
        Flow::Continue
    }

    pub(super) fn lpwd(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        match std::env::current_dir() {
            Ok(path) => say(&format!("Local folder: {}", path.display())),
            Err(error) => say(&format!("Error: {error}")),
        }
        Flow::Continue
    }

    pub(super) fn mkdir(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: mkdir PATH");
            return Flow::Continue;
        };
        let path = path.clone();
        if self.simple_action(|c| {
            Box::pin(async move {
                c.mkdir(&path).await?;
                Ok(format!("Created folder {path}"))
            })
        }) {
            self.refresh_names();
        }
        Flow::Continue
    }

    pub(super) fn rmdir(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: rmdir PATH");
            return Flow::Continue;
        };
        let path = path.clone();
        if self.simple_action(|c| {
            Box::pin(async move {
                c.rmdir(&path).await?;
                Ok(format!("Removed folder {path}"))
            })
        }) {
            self.refresh_names();
        }
        Flow::Continue
    }

    pub(super) fn rename(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [from, to] = arguments else {
            say("Usage: rename FROM TO (quote names with spaces)");
            return Flow::Continue;
        };
        let (from, to) = (from.clone(), to.clone());
        if self.simple_action(|c| {
            Box::pin(async move {
                c.rename(&from, &to).await?;
                Ok(format!("Renamed {from} to {to}"))
            })
        }) {
            self.refresh_names();
        }
        Flow::Continue
    }

    pub(super) fn size(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let [path] = arguments else {
            say("Usage: size PATH");
            return Flow::Continue;
        };
        let path = path.clone();
        self.simple_action(|c| {
            Box::pin(async move {
                let size = c.size(&path).await?;
                Ok(format!("{path} - {size}b"))
            })
        });
        Flow::Continue
    }

    pub(super) fn help(&mut self, _: &[String], _: &mut dyn Input) -> Flow {
        say(&format!(
            "Commands (any case; quote names with spaces when giving two):\n{}",
            command_list()
        ));
        Flow::Continue
    }
}
