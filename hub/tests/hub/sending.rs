//! Batching, retries, endpoints, download_url.
