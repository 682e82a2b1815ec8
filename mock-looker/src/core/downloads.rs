//! One-time download URLs (`scheduled_plan.download_url`) a streaming action fetches.

use super::Core;
use crate::format::file::Content;
use crate::format::{Format, WriteOptions};

impl Core {
    /// Claims a download URL: the first use within the lifetime wins, later ones are refused.
    pub(crate) fn claim_download(
        &self,
        token: &str,
    ) -> Result<(Content, Format, WriteOptions, String), &'static str> {
        let mut st = self.lock();
        let d = st.downloads.get_mut(token).ok_or("unknown download URL")?;
        if d.fetches > 0 {
            d.fetches += 1;
            return Err("this download URL was already used");
        }
        if d.created.elapsed() > self.config.download_ttl {
            return Err("this download URL has expired");
        }
        d.fetches = 1;
        Ok((d.content.clone(), d.format, d.opts, d.ran_at.clone()))
    }
}
