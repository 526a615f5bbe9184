//! Permissions a token or key can grant (docs/http-api.md §11.4).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One operation class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// GET, HEAD, batch get/head.
    #[serde(rename = "object.read")]
    Read,
    /// PUT, POST, PATCH, batch insert, multipart and resumable uploads.
    #[serde(rename = "object.write")]
    Write,
    /// DELETE, batch delete.
    #[serde(rename = "object.delete")]
    Delete,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 3] = [Self::Read, Self::Write, Self::Delete];

    /// The wire name (`object.read`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Read => "object.read",
            Self::Write => "object.write",
            Self::Delete => "object.delete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Read => 1,
            Self::Write => 2,
            Self::Delete => 4,
        }
    }
}

/// An unknown permission name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}; expected object.read, object.write or object.delete")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u8);

impl Permissions {
    /// No permission.
    pub const NONE: Self = Self(0);
    /// Every permission.
    pub const ALL: Self = Self(7);

    /// Whether `p` is in the set.
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Both sets' common permissions.
    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, p| acc | p.bit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let rw: Permissions = [Permission::Read, Permission::Write].into_iter().collect();
        assert!(rw.contains(Permission::Read) && !rw.contains(Permission::Delete));
        let d: Permissions = [Permission::Delete].into_iter().collect();
        assert_eq!(rw.intersect(d), Permissions::NONE);
        assert_eq!(
            "object.write".parse::<Permission>().unwrap(),
            Permission::Write
        );
        assert!("object.admin".parse::<Permission>().is_err());
    }
}
