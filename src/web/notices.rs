//! What a session action said, kept for the one page view it returns to.

use std::{collections::HashMap, sync::Mutex};

use super::signin::Signed;

/// What an action said, shown once on the page it returns to.
#[derive(Debug, Clone)]
pub struct Notice {
    pub ok: bool,
    pub text: String,
    /// A refused merge's conflicting files.
    pub files: Vec<String>,
}

/// Most notices kept at once (each is taken by the next page view; ones
/// never taken are dropped when the map is full).
const MAX_NOTICES: usize = 1024;

/// The notices waiting for their page, by browser session and page.
#[derive(Default)]
pub struct Notices(Mutex<HashMap<String, Notice>>);

impl Notices {
    fn key(signed: &Signed, page: &str) -> String {
        format!("{} {page}", crate::auth::hash_key(&signed.csrf))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Notice>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn put(&self, signed: &Signed, page: &str, notice: Notice) {
        let mut notices = self.lock();
        if notices.len() >= MAX_NOTICES {
            notices.clear();
        }
        notices.insert(Self::key(signed, page), notice);
    }

    /// The notice for `page`, once.
    pub fn take(&self, signed: &Signed, page: &str) -> Option<Notice> {
        self.lock().remove(&Self::key(signed, page))
    }
}
