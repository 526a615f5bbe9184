//! Short forms of the requests the HTTP tests repeat: send and unwrap, read a body as text,
//! and the object requests of a [`Memory`] server. They only shorten how a request is
//! sent; what a test asserts about the response stays in the test.

use reqwest::{Body, IntoUrl, RequestBuilder, Response};

use super::Memory;

/// Sends `request`; the response (a transport error fails the test).
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("send the request")
}

/// Sends `request` and reads the response body as text, whatever the status.
pub async fn text(request: RequestBuilder) -> String {
    send(request).await.text().await.expect("read the body")
}

/// `request` with every `(name, value)` of `headers` added.
pub fn with_headers(
    request: RequestBuilder,
    headers: &[(&str, impl AsRef<str>)],
) -> RequestBuilder {
    headers.iter().fold(request, |request, (name, value)| {
        request.header(*name, value.as_ref())
    })
}

impl Memory {
    /// `GET url`.
    pub async fn get(&self, url: impl IntoUrl) -> Response {
        send(self.client.get(url)).await
    }

    /// `GET url` with `headers`.
    pub async fn get_with(
        &self,
        url: impl IntoUrl,
        headers: &[(&str, impl AsRef<str>)],
    ) -> Response {
        send(with_headers(self.client.get(url), headers)).await
    }

    /// `HEAD url`.
    pub async fn head(&self, url: impl IntoUrl) -> Response {
        send(self.client.head(url)).await
    }

    /// `DELETE url`.
    pub async fn delete(&self, url: impl IntoUrl) -> Response {
        send(self.client.delete(url)).await
    }

    /// `PUT url` with `body`.
    pub async fn put(&self, url: impl IntoUrl, body: impl Into<Body>) -> Response {
        send(self.client.put(url).body(body)).await
    }

    /// `PUT url` with `headers` and `body`.
    pub async fn put_with(
        &self,
        url: impl IntoUrl,
        headers: &[(&str, impl AsRef<str>)],
        body: impl Into<Body>,
    ) -> Response {
        send(with_headers(self.client.put(url), headers).body(body)).await
    }

    /// `POST url` with `body`.
    pub async fn post(&self, url: impl IntoUrl, body: impl Into<Body>) -> Response {
        send(self.client.post(url).body(body)).await
    }

    /// The body of `GET http://addr{path}` (an internal route: `/keda`, `/metrics`) as text.
    pub async fn text(&self, path: &str) -> String {
        text(self.client.get(self.url(path))).await
    }
}
