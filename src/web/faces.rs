//! What the board remembers of members' avatars: whether each has one and
//! which picture, for [`SEEN_FOR`].

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{avatars, logs::LogStore};

/// How long the board trusts what it last saw of a member's avatar (set
/// or not, and which picture). An upload through the board is seen at
/// once; one through `POST /avatars` or `members set-avatar` within this.
pub const SEEN_FOR: Duration = Duration::from_secs(30);

/// What the board knows of members' avatars.
pub struct Faces {
    pub(super) objects: Option<LogStore>,
    /// user id → the avatar's content tag (`None`: no avatar), and when
    /// that was seen.
    seen: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl Faces {
    pub fn new(objects: Option<LogStore>) -> Self {
        Faces {
            objects,
            seen: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<String>, Instant)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The content tag of `user_id`'s avatar, `None` when they have none
    /// (or the server keeps no objects, or they could not be read).
    pub async fn tag(&self, user_id: &str) -> Option<String> {
        let objects = self.objects.as_ref()?;
        if let Some((tag, at)) = self.lock().get(user_id)
            && at.elapsed() < SEEN_FOR
        {
            return tag.clone();
        }
        let tag = match avatars::avatar(objects, user_id).await {
            Ok(found) => found.map(|png| tag_of(&png)),
            Err(error) => {
                tracing::warn!(%error, user = %user_id, "could not read an avatar; showing initials");
                None
            }
        };
        self.lock()
            .insert(user_id.to_owned(), (tag.clone(), Instant::now()));
        tag
    }

    /// Forgets what was seen of `user_id`'s avatar (it just changed).
    pub fn forget(&self, user_id: &str) {
        self.lock().remove(user_id);
    }
}

pub fn tag_of(png: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(png)[..6])
}
