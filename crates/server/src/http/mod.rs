//! HTTP plumbing shared by the endpoints: parameter extraction, error rendering, cookies, pages.

pub mod cookies;
pub mod error;
pub mod middleware;
pub mod pages;
pub mod params;
