//! What an account may do where: rights per folder, as the users file's `permissions` table
//! gives them. Pure data and lookups; the file service asks before each operation.
//!
//! The deepest listed folder that contains a path decides (a folder contains itself). An
//! operation on an entry (download, upload, delete, rename, mkdir, rmdir, chtimes) is decided by
//! the folder the entry is in; a listing by the listed folder itself.

use std::collections::BTreeMap;
use std::fmt;

use ferry_proto::VirtualPath;
use serde::{Deserialize, Serialize};

/// One right, as the users file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    /// List a folder.
    List,
    /// Read a file.
    Download,
    /// Create a new file.
    Upload,
    /// Replace or append to an existing file.
    Overwrite,
    /// Delete a file.
    Delete,
    /// Rename (needed at both ends).
    Rename,
    /// Make a folder.
    Mkdir,
    /// Remove a folder.
    Rmdir,
    /// Set a file's modification time (MFMT).
    Chtimes,
    /// Every right.
    #[serde(rename = "*")]
    All,
}

impl Right {
    /// Every single right, in the order the users file documents them.
    const EACH: [Right; 9] = [
        Right::List,
        Right::Download,
        Right::Upload,
        Right::Overwrite,
        Right::Delete,
        Right::Rename,
        Right::Mkdir,
        Right::Rmdir,
        Right::Chtimes,
    ];

    /// The name in the users file and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Right::List => "list",
            Right::Download => "download",
            Right::Upload => "upload",
            Right::Overwrite => "overwrite",
            Right::Delete => "delete",
            Right::Rename => "rename",
            Right::Mkdir => "mkdir",
            Right::Rmdir => "rmdir",
            Right::Chtimes => "chtimes",
            Right::All => "*",
        }
    }

    fn bit(self) -> u16 {
        match self {
            Right::All => Rights::ALL.0,
            single => 1 << (single as u16),
        }
    }
}

/// A set of rights.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights(u16);

impl Rights {
    /// No right at all.
    pub const NONE: Rights = Rights(0);
    /// Every right.
    pub const ALL: Rights = Rights((1 << 9) - 1);
    /// What a read-only account keeps: list and download.
    pub const READ: Rights = Rights((1 << Right::List as u16) | (1 << Right::Download as u16));

    /// The set of `rights`.
    pub fn of(rights: &[Right]) -> Rights {
        Rights(rights.iter().fold(0, |bits, right| bits | right.bit()))
    }

    /// True when `right` is in the set.
    pub fn allows(self, right: Right) -> bool {
        self.0 & right.bit() == right.bit()
    }

    /// The rights in both sets.
    pub fn and(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Right::EACH
            .iter()
            .filter(|right| self.allows(**right))
            .map(|right| right.name())
            .collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// Rights per folder, deepest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    rules: Vec<(VirtualPath, Rights)>,
}

impl Permissions {
    /// Every right everywhere.
    pub fn everything() -> Permissions {
        Permissions::uniform(Rights::ALL)
    }

    /// The same rights everywhere.
    pub fn uniform(rights: Rights) -> Permissions {
        Permissions {
            rules: vec![(VirtualPath::root(), rights)],
        }
    }

    /// The users file's table: folder (relative to the home) to the names of its rights. The
    /// table must say what holds in the home itself (`"/"`), so that no folder is left to a
    /// guess.
    pub fn from_table(table: &BTreeMap<String, Vec<Right>>) -> Result<Permissions, String> {
        let mut rules = Vec::with_capacity(table.len());
        for (folder, rights) in table {
            let path = VirtualPath::root()
                .resolve(folder.as_bytes())
                .map_err(|e| format!("permissions: {folder:?} is not a folder path ({e})"))?;
            if rules.iter().any(|(seen, _)| *seen == path) {
                return Err(format!("permissions: {folder:?} is listed twice"));
            }
            rules.push((path, Rights::of(rights)));
        }
        if !rules.iter().any(|(path, _)| path.is_root()) {
            return Err(
                "permissions: no rule for \"/\" (say what the user may do in the \
                        home folder)"
                    .into(),
            );
        }
        // Deepest first: the first rule that contains a path is the one that decides.
        rules.sort_by_key(|(path, _)| std::cmp::Reverse(path.names().count()));
        Ok(Permissions { rules })
    }

    /// The same rules with every folder's rights cut down to `rights` (a read-only account).
    pub fn limited_to(mut self, rights: Rights) -> Permissions {
        for (_, folder_rights) in &mut self.rules {
            *folder_rights = folder_rights.and(rights);
        }
        self
    }

    /// The rights in `folder` (a path in the user's view).
    pub fn in_folder(&self, folder: &VirtualPath) -> Rights {
        self.rules
            .iter()
            .find(|(rule, _)| folder.starts_with(rule))
            .map_or(Rights::NONE, |(_, rights)| *rights)
    }

    /// The rights in the folder holding `entry`: `in_folder(&entry.parent())` without making
    /// the parent (checked for every file opened).
    pub fn in_folder_of(&self, entry: &VirtualPath) -> Rights {
        self.rules
            .iter()
            .find(|(rule, _)| entry.parent_starts_with(rule))
            .map_or(Rights::NONE, |(_, rights)| *rights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::root().resolve(text.as_bytes()).unwrap()
    }

    fn table(rows: &[(&str, &[Right])]) -> BTreeMap<String, Vec<Right>> {
        rows.iter()
            .map(|(folder, rights)| (folder.to_string(), rights.to_vec()))
            .collect()
    }

    #[test]
    fn the_deepest_listed_folder_decides() {
        let permissions = Permissions::from_table(&table(&[
            ("/", &[Right::All]),
            ("/pub", &[Right::List, Right::Download]),
            ("/pub/drop", &[Right::Upload]),
            ("incoming/", &[Right::List, Right::Upload]),
        ]))
        .unwrap();
        let cases = [
            ("/", Rights::ALL),
            ("/other/deep", Rights::ALL),
            ("/pub", Rights::READ),
            ("/pub/docs/old", Rights::READ),
            ("/pub/drop", Rights::of(&[Right::Upload])),
            ("/pub/dropped", Rights::READ),
            ("/incoming", Rights::of(&[Right::List, Right::Upload])),
        ];
        for (folder, expected) in cases {
            assert_eq!(permissions.in_folder(&path(folder)), expected, "{folder}");
            // An entry's folder: the same answer through its parent or without making it.
            let entry = path(&format!("{folder}/x"));
            assert_eq!(permissions.in_folder_of(&entry), expected, "{folder}/x");
            let entry = path(folder);
            assert_eq!(
                permissions.in_folder_of(&entry),
                permissions.in_folder(&entry.parent()),
                "{folder}"
            );
        }
    }

    #[test]
    fn rights_sets() {
        assert!(Rights::ALL.allows(Right::Chtimes));
        assert!(Rights::ALL.allows(Right::All));
        assert!(!Rights::READ.allows(Right::Upload));
        assert!(!Rights::READ.allows(Right::All));
        assert_eq!(Rights::of(&[Right::All]), Rights::ALL);
        assert_eq!(Rights::ALL.and(Rights::READ), Rights::READ);
        assert_eq!(format!("{:?}", Rights::READ), "[list, download]");
    }

    #[test]
    fn a_table_without_the_home_or_with_a_folder_twice_is_refused() {
        let error = Permissions::from_table(&table(&[("/pub", &[Right::List])])).unwrap_err();
        assert!(error.contains("no rule for \"/\""), "{error}");
        let error = Permissions::from_table(&table(&[
            ("/", &[Right::All]),
            ("/pub", &[Right::List]),
            ("pub/", &[Right::Download]),
        ]))
        .unwrap_err();
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn rights_parse_from_toml_names() {
        #[derive(Deserialize)]
        struct Row {
            rights: Vec<Right>,
        }
        let row: Row = toml::from_str("rights = [\"list\", \"*\", \"chtimes\"]").unwrap();
        assert_eq!(row.rights, [Right::List, Right::All, Right::Chtimes]);
        let error = toml::from_str::<Row>("rights = [\"lsit\"]")
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("line 1") && error.contains("lsit"),
            "{error}"
        );
    }
}
