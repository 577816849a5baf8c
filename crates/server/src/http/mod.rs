//! HTTP plumbing shared by the endpoints: the route table, parameter extraction, error rendering,
//! redirects, cookies, pages, the operator endpoints' guard, and the request middleware.

pub mod cookies;
pub mod error;
pub mod middleware;
pub mod operator;
pub mod pages;
pub mod params;
pub mod redirect;
pub mod routes;
pub mod store_error;
