//! Signing in with one of the API's tokens (or, when configured, a link to the identity
//! provider: see [`super::oidc`]), and out.

use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

fn sign_in_page<A: Analyzer>(
    st: &ApiState<A>,
    next: &str,
    error: Option<String>,
    status: StatusCode,
    https: bool,
) -> Response {
    let token = session::random_token();
    let oidc = st.oidc.get().map(|o| {
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        (o.display_name(), format!("/console/oidc/start?{query}"))
    });
    let res = html(
        status,
        view::SignInPage {
            chrome: Chrome::default(),
            csrf: token.clone(),
            next: next.to_string(),
            error,
            oidc,
        }
        .render(),
    );
    with_cookie(
        res,
        session::set_cookie(SIGN_IN_COOKIE, &token, SIGN_IN_FORM_LIFETIME, https),
    )
}

/// Starts a session for `identity` and goes to `next`.
async fn signed_in<A: Analyzer>(
    st: &ApiState<A>,
    identity: Identity,
    next: &str,
    https: bool,
) -> Response {
    let cookies = match session_cookies(st, identity, https).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let mut res = see_other(next);
    for cookie in cookies {
        res = with_cookie(res, cookie);
    }
    res
}

/// Starts a session for `identity`: the cookies that carry it (and end the sign-in form's).
pub(super) async fn session_cookies<A: Analyzer>(
    st: &ApiState<A>,
    identity: Identity,
    https: bool,
) -> Result<[String; 2], Response> {
    let id = st.console.start(identity).await.map_err(|e| {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Chrome::default(),
            format!("the session could not be kept: {e}"),
        )
    })?;
    Ok([
        session::set_cookie(COOKIE, &id, st.console.lifetime(), https),
        session::set_cookie(SIGN_IN_COOKIE, "", Duration::ZERO, https),
    ])
}

pub(super) async fn sign_in_form<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = session::safe_next(q.next.as_deref());
    let https = session::over_https(&headers);
    if let Some(id) = session::cookie(&headers, COOKIE)
        && st.console.get(&id).await.is_some()
    {
        return see_other(&next);
    }
    if !st.auth.required() {
        return signed_in(&st, anonymous(), &next, https).await;
    }
    sign_in_page(&st, &next, None, StatusCode::OK, https)
}

pub(super) async fn sign_in<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let https = session::over_https(&headers);
    let form = match read_form(&st, &headers, body, Chrome::default()).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let next = session::safe_next(form.get("next"));
    let expected = session::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !form
        .get("csrf")
        .is_some_and(|t| session::tokens_match(t, &expected))
    {
        return error_page(
            StatusCode::FORBIDDEN,
            Chrome::default(),
            "the sign-in form's csrf token is missing or stale; open the sign-in page again",
        );
    }
    if !st.auth.required() {
        return signed_in(&st, anonymous(), &next, https).await;
    }
    let token = form.get("token").unwrap_or("").trim();
    let mut as_header = HeaderMap::new();
    let identity = HeaderValue::from_str(&format!("Bearer {token}"))
        .ok()
        .and_then(|v| {
            as_header.insert(header::AUTHORIZATION, v);
            st.auth.authenticate(&as_header).ok()
        });
    match identity {
        Some(id) if id.role.allows(Scope::Read) => signed_in(&st, id, &next, https).await,
        Some(id) => sign_in_page(
            &st,
            &next,
            Some(format!(
                "{} ({}) may not read incidents, so it cannot sign in to the console",
                id.name, id.role
            )),
            StatusCode::FORBIDDEN,
            https,
        ),
        None => sign_in_page(
            &st,
            &next,
            Some("that token is not one the agent knows; check it and try again".into()),
            StatusCode::UNAUTHORIZED,
            https,
        ),
    }
}

pub(super) async fn sign_out<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, _, _) = match post_session(&st, &headers, body).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    st.console.end(&id).await;
    with_cookie(
        see_other("/console/sign-in"),
        session::set_cookie(COOKIE, "", Duration::ZERO, session::over_https(&headers)),
    )
}
