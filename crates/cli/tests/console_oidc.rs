//! Signing in to the console through an OpenID Connect provider (tests/common/oidc_provider.rs,
//! on loopback), driven as a browser without JavaScript would: no redirect followed, cookies
//! kept by hand. The configuration is read as `nightshift run` reads it; a person's groups
//! decide their role, and everything the provider or a browser gets wrong is refused with a
//! page that names it and no session.

mod common;

use std::net::SocketAddr;

use common::browser::{Browser, Page, awaiting, deadlock_lab, send};
use common::oidc_provider::{CLIENT_ID, CLIENT_SECRET, Mischief, OidcProvider, Person, Signing};
use nightshift::config::AgentConfig;
use nightshift::lab::Lab;
use nightshift_agent::http::{Auth, Credential, Role};

/// The agent's configuration with `console.oidc` for `provider`, loaded as the binary loads
/// it, and its client set on the running agent.
fn configure(lab: &Lab, provider: &OidcProvider, dir: &std::path::Path) {
    let secret = dir.join("client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let path = dir.join("nightshift.yaml");
    std::fs::write(
        &path,
        format!(
            "tokens:\n  - {{name: ops, role: admin, sha256: {}}}\nconsole:\n  oidc:\n    name: Keycloak\n    issuer: {}\n    client_id: {CLIENT_ID}\n    client_secret_file: {}\n    redirect_url: http://{}/console/oidc/callback\n    roles:\n      admin: [platform]\n      approver: [sre]\n      viewer: [staff]\n",
            "ab".repeat(32),
            provider.issuer,
            secret.display(),
            lab.agent.addr,
        ),
    )
    .unwrap();
    let config = AgentConfig::load(&path).unwrap();
    let oidc = config
        .console
        .oidc(&config.tls, |_| None)
        .unwrap()
        .expect("console.oidc is configured");
    lab.agent.api.oidc.set(oidc).unwrap();
}

fn tokens() -> Auth {
    Auth::with(vec![Credential::bearer("ops", Role::Admin, "ops-token")])
}

async fn lab(dir: &std::path::Path, approve: bool) -> Lab {
    deadlock_lab(dir.join("record.db"), tokens(), approve).await
}

fn path_on(addr: SocketAddr, url: &str) -> String {
    url.strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("{url} is not on {addr}"))
        .to_string()
}

/// Starts a sign-in and consents at the provider: the callback path the provider sends the
/// browser back to.
async fn consent(b: &mut Browser, provider: &OidcProvider, next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap();
    let start = b.get(&format!("/console/oidc/start?{query}")).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let cookie = start.set_cookie("nightshift_oidc").unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/console/oidc",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let to = path_on(provider.addr, start.header("location").unwrap());
    let answer = send(provider.addr, "GET", &to, &[], b"").await;
    assert_eq!(answer.status, 303, "the provider refused: {}", answer.body);
    path_on(b.addr, answer.header("location").unwrap())
}

/// Signs in through the provider and follows the page that moves on; that page.
async fn signed_in(b: &mut Browser, provider: &OidcProvider, next: &str, who: &str) -> Page {
    let callback = consent(b, provider, next).await;
    let page = b.get(&callback).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("Signed in as <strong>{who}</strong>")),
        "{}",
        page.body
    );
    let session = page.set_cookie("nightshift_session").unwrap();
    assert!(
        session.contains("SameSite=Strict") && session.contains("HttpOnly"),
        "{session}"
    );
    assert!(
        page.set_cookie("nightshift_oidc")
            .unwrap()
            .contains("Max-Age=0")
    );
    // The session cookie is strict, so the page moves on itself rather than by a redirect.
    let refresh = page.header("refresh").unwrap().to_string();
    assert_eq!(refresh, format!("0; url={next}"));
    let next_page = b.get(next).await;
    assert_eq!(next_page.status, 200, "{}", next_page.body);
    next_page
}

/// A refusal: `status`, a page naming the problem, no session.
async fn refused(b: &mut Browser, page: Page, status: u16, words: &[&str]) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for w in words {
        assert!(page.body.contains(w), "{w:?} not in {}", page.body);
    }
    assert!(
        page.set_cookie("nightshift_session").is_none(),
        "{:?}",
        page.headers
    );
    let list = b.get("/console/").await;
    assert_eq!(list.status, 303, "no session: back to the sign-in page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_signs_people_in_with_the_role_their_groups_map_to() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path(), true).await;
    let addr = lab.agent.addr;
    let redirect = format!("http://{addr}/console/oidc/callback");
    let provider = OidcProvider::start(&redirect, Person::new("carol", &["staff", "sre"])).await;

    // Before it is configured there is no provider to sign in with.
    let mut b = Browser::new(addr);
    let page = b.get("/console/sign-in").await;
    assert!(!page.body.contains("/console/oidc/start"), "{}", page.body);
    let r = b.get("/console/oidc/start").await;
    assert_eq!(r.status, 404, "{}", r.body);

    configure(&lab, &provider, dir.path());
    // A discovery document that names another issuer (even by a slash) is refused.
    provider.misbehave(Mischief::DiscoveryIssuer);
    let r = b.get("/console/oidc/start").await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.body.contains("discovery document names the issuer"),
        "{}",
        r.body
    );
    assert!(r.set_cookie("nightshift_oidc").is_none());
    provider.misbehave(Mischief::None);

    // The sign-in page offers the provider beside the token form.
    let page = b.get("/console/sign-in?next=%2Fconsole%2F").await;
    assert!(page.body.contains("Sign in with Keycloak"), "{}", page.body);
    assert!(
        page.body
            .contains("href=\"/console/oidc/start?next=%2Fconsole%2F\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"token\""));

    // Carol (sre: approver), ES256, back to the page she asked for; her state is good once.
    let mut carol = Browser::new(addr);
    let next = "/console/?state=awaiting_approval";
    let callback = consent(&mut carol, &provider, next).await;
    let state_cookie = carol.cookies["nightshift_oidc"].clone();
    let page = carol.get(&callback).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Signed in as <strong>carol</strong> (approver) through Keycloak")
    );
    assert_eq!(page.header("refresh"), Some(&*format!("0; url={next}")));
    let list = carol.get(next).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body
            .contains("Signed in as <strong>carol</strong> (approver)"),
        "{}",
        list.body
    );
    let mut replay = Browser::new(addr);
    replay
        .cookies
        .insert("nightshift_oidc".into(), state_cookie);
    let r = replay.get(&callback).await;
    refused(&mut replay, r, 400, &["already used or has expired"]).await;

    // On an incident waiting for approval, the approver has the form.
    let id = awaiting(lab.agent.engine.store()).await;
    let incident = format!("/console/incidents/{}", id.0);
    let approve = format!("action=\"{incident}/approve\"");
    let page = carol.get(&incident).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&approve), "{}", page.body);

    // Dave (staff: viewer), RS256: the page without the form.
    provider.consent_as(Person::new("dave", &["staff"]));
    provider.sign_with(Signing::Rs256);
    let mut dave = Browser::new(addr);
    let list = signed_in(&mut dave, &provider, "/console/", "dave").await;
    assert!(
        list.body
            .contains("Signed in as <strong>dave</strong> (viewer)"),
        "{}",
        list.body
    );
    let page = dave.get(&incident).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains(&approve), "{}", page.body);
    assert!(page.body.contains("may not answer it"), "{}", page.body);

    // The provider rotates its key: the agent fetches the keys again, once, and goes on.
    provider.sign_with(Signing::Es256);
    provider.rotate();
    provider.consent_as(Person {
        username: None,
        ..Person::new("erin", &["platform", "staff"])
    });
    let fetched = provider.jwks_served();
    let mut erin = Browser::new(addr);
    let list = signed_in(&mut erin, &provider, "/console/", "erin@example.com").await;
    assert!(list.body.contains("(admin)"), "{}", list.body);
    assert_eq!(provider.jwks_served(), fetched + 1);

    // The client authenticated, sent the redirect URI and the PKCE verifier every time.
    assert_eq!(provider.refusals(), Vec::<String>::new());
    assert_eq!(provider.tokens_issued(), 3);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_provider_or_a_browser_gets_wrong_is_refused_with_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path(), false).await;
    let addr = lab.agent.addr;
    let redirect = format!("http://{addr}/console/oidc/callback");
    let provider = OidcProvider::start(&redirect, Person::new("carol", &["sre"])).await;
    configure(&lab, &provider, dir.path());

    // Another state than this browser's, or none, leaves its sign-in alone.
    let mut b = Browser::new(addr);
    let callback = consent(&mut b, &provider, "/console/").await;
    let (path, query) = callback.split_once('?').unwrap();
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    for (k, v) in &mut pairs {
        if k == "state" {
            *v = "f".repeat(64);
        }
    }
    let forged = format!("{path}?{}", serde_urlencoded::to_string(&pairs).unwrap());
    let r = b.get(&forged).await;
    assert!(
        r.set_cookie("nightshift_oidc").is_none(),
        "the real sign-in stays"
    );
    refused(&mut b, r, 400, &["does not match this browser"]).await;
    let without_state: Vec<_> = pairs.iter().filter(|(k, _)| k != "state").collect();
    let r = b
        .get(&format!(
            "{path}?{}",
            serde_urlencoded::to_string(&without_state).unwrap()
        ))
        .await;
    refused(&mut b, r, 400, &["carries no state"]).await;
    // The real answer, from another browser (no state cookie): refused.
    let mut other = Browser::new(addr);
    let r = other.get(&callback).await;
    refused(&mut other, r, 400, &["holds no sign-in in progress"]).await;

    // What the provider gets wrong.
    let fetched = provider.jwks_served();
    for (mischief, status, words) in [
        (
            Mischief::DenyAccess,
            403,
            &["access_denied", "The person declined."][..],
        ),
        (Mischief::OtherKey, 401, &["signature is invalid"][..]),
        (
            Mischief::UnknownKid,
            401,
            &["no key the provider publishes", "ec-unpublished"][..],
        ),
        (
            Mischief::AlgNone,
            401,
            &["signed with alg", "none", "refused"][..],
        ),
        (
            Mischief::WrongAudience,
            401,
            &["audience", "another-client"][..],
        ),
        (
            Mischief::WrongIssuer,
            401,
            &["issued by", "realms/evil"][..],
        ),
        (Mischief::Expired, 401, &["expired"][..]),
        (Mischief::WrongNonce, 401, &["nonce does not match"][..]),
        (
            Mischief::TokenStatus(400),
            502,
            &[
                "token endpoint refused the code",
                "400 Bad Request",
                "invalid_grant: Code not valid",
            ][..],
        ),
        (
            Mischief::TokenStatus(500),
            502,
            &[
                "token endpoint refused the code",
                "500 Internal Server Error",
                "not an OAuth error",
            ][..],
        ),
        (Mischief::GarbageJson, 502, &["not a token response"][..]),
    ] {
        provider.misbehave(mischief.clone());
        let mut b = Browser::new(addr);
        let callback = consent(&mut b, &provider, "/console/").await;
        let r = b.get(&callback).await;
        assert!(
            r.set_cookie("nightshift_oidc")
                .unwrap()
                .contains("Max-Age=0"),
            "{mischief:?}"
        );
        assert!(
            !r.body.contains(CLIENT_SECRET) && !r.body.contains("eyJ"),
            "{}",
            r.body
        );
        refused(&mut b, r, status, words).await;
    }
    // An unknown key id is worth one fetch of the keys, not more.
    assert_eq!(
        provider.jwks_served(),
        fetched + 2,
        "first fetch, then once for ec-unpublished"
    );

    // A person with no mapped group.
    provider.misbehave(Mischief::None);
    provider.consent_as(Person::new("mallory", &["contractors"]));
    let mut b = Browser::new(addr);
    let callback = consent(&mut b, &provider, "/console/").await;
    let r = b.get(&callback).await;
    refused(
        &mut b,
        r,
        403,
        &["mallory signed in, but none of their groups (contractors) is mapped to a role"],
    )
    .await;
    assert_eq!(provider.refusals(), Vec::<String>::new());
    lab.stop();
}
