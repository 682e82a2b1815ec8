//! Routes, auth, versions, error answers.
