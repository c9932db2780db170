//! A console session for tests that drive the console's pages and the management API over
//! plain HTTP (no browser): signing in through the form, as a browser does.

use crate::harness::Gateway;

/// A signed-in console session: its cookie and its CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// The password the tests give the users they sign in as.
pub const PASSWORD: &str = "correct horse battery";

/// Signs `username` in through the console's form, as a browser does.
pub async fn sign_in(gw: &Gateway, http: &reqwest::Client, username: &str) -> Session {
    let page = http.get(format!("{}/login", gw.url)).send().await.unwrap();
    let login = cookie_value(&page, tollgate::sessions::LOGIN_COOKIE).expect("the sign-in cookie");
    let resp = http
        .post(format!("{}/login", gw.url))
        .header("cookie", format!("{}={login}", tollgate::sessions::LOGIN_COOKIE))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={username}&password={}&csrf={login}", PASSWORD.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{username} signs in");
    let token = cookie_value(&resp, tollgate::sessions::COOKIE).expect("the session cookie");
    let cookie = format!("{}={token}", tollgate::sessions::COOKIE);
    let page = http.get(format!("{}/account", gw.url)).header("cookie", &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page carries the CSRF token")
        .to_string();
    Session { cookie, csrf }
}

pub fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_string)
    })
}
