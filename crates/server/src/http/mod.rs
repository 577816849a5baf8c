//! HTTP plumbing shared by the endpoints: the route table, parameter extraction, error rendering,
//! redirects, cookies, pages, and the request middleware.

pub mod cookies;
pub mod error;
pub mod middleware;
pub mod pages;
pub mod params;
pub mod redirect;
pub mod routes;
