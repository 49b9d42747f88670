use super::*;

/// `text` redacted has none of `secrets` and still has every one of `keep`.
#[track_caller]
fn masks(text: &str, secrets: &[&str], keep: &[&str]) -> String {
    let out = redact(text);
    for s in secrets {
        assert!(!out.contains(s), "{s:?} left in {out:?} (from {text:?})");
    }
    for k in keep {
        assert!(out.contains(k), "{k:?} lost from {out:?} (from {text:?})");
    }
    assert!(out.contains("[REDACTED"), "{out:?}");
    assert_eq!(redact(&out), out, "redacting twice changes {out:?}");
    out
}

#[test]
fn bearer_tokens() {
    let out = masks(
        "Authorization: Bearer abcdefghijklmnop12345",
        &["abcdefghijklmnop12345"],
        &["Authorization: Bearer "],
    );
    assert_eq!(out, "Authorization: Bearer [REDACTED]");
    masks(
        "curl -H 'Authorization: bearer 9f8e7d6c5b4a3928' http://api",
        &["9f8e7d6c5b4a3928"],
        &["curl -H", "http://api"],
    );
    masks(
        "calling upstream with Bearer sk9Xv2LmQ8rT4wZ1 failed",
        &["sk9Xv2LmQ8rT4wZ1"],
        &["failed"],
    );
}

#[test]
fn authorization_token_scheme() {
    let out = masks(
        "Authorization: Token abc1234567def",
        &["abc1234567def"],
        &["Authorization: Token"],
    );
    assert_eq!(out, "Authorization: Token [REDACTED]");
    masks(
        r#"headers={"Authorization": "Token 0a1b2c3d4e5f"}"#,
        &["0a1b2c3d4e5f"],
        &["Authorization", "Token"],
    );
    masks(
        "Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==",
        &["dXNlcjpwYXNzd29yZA"],
        &["Proxy-Authorization: Basic"],
    );
}

#[test]
fn basic_credentials() {
    masks(
        "login with Basic dXNlcjpwYXNz from 10.0.0.7",
        &["dXNlcjpwYXNz"],
        &["Basic", "10.0.0.7"],
    );
}

#[test]
fn digest_response() {
    let line = r#"Authorization: Digest username="bob", realm="shop", nonce="dcd98b7102dd2f0e", uri="/cart", response="6629fae49393a05397450978507c4ef1""#;
    masks(
        line,
        &["6629fae49393a05397450978507c4ef1"],
        &["Digest", "username=\"bob\"", "uri=\"/cart\""],
    );
}

#[test]
fn mysql_short_password_flag() {
    let out = masks(
        "exec: mysql -h db.shop -u root -pS3cretPw orders",
        &["S3cretPw"],
        &["mysql -h db.shop -u root -p", "orders"],
    );
    assert_eq!(out, "exec: mysql -h db.shop -u root -p[REDACTED] orders");
    masks(
        "mysqldump -uroot -p'hunter2' shop",
        &["hunter2"],
        &["mysqldump"],
    );
}

#[test]
fn long_password_flags() {
    let out = masks(
        "mysql --user=app --password=Tr0ub4dor --host=db",
        &["Tr0ub4dor"],
        &["--user=app", "--password=", "--host=db"],
    );
    assert_eq!(out, "mysql --user=app --password=[REDACTED] --host=db");
    masks(
        "pg_dump --password s3kr1t --host db",
        &["s3kr1t"],
        &["--password", "--host db"],
    );
}

#[test]
fn cookies() {
    let out = masks(
        "Set-Cookie: session=9f86d081884c7d65; Path=/; HttpOnly; Secure",
        &["9f86d081884c7d65"],
        &["Set-Cookie: session=", "Path=/", "HttpOnly"],
    );
    assert_eq!(
        out,
        "Set-Cookie: session=[REDACTED]; Path=/; HttpOnly; Secure"
    );
    let out = masks(
        "Cookie: sid=abc123; csrftoken=zz99yy",
        &["abc123", "zz99yy"],
        &["sid=", "csrftoken="],
    );
    assert_eq!(out, "Cookie: sid=[REDACTED]; csrftoken=[REDACTED]");
}

#[test]
fn passphrases() {
    masks(
        "unlocking key with passphrase=correct-horse-battery",
        &["correct-horse-battery"],
        &["passphrase="],
    );
    masks(
        "ssh_passphrase: 'my secret phrase'",
        &["my secret phrase"],
        &["ssh_passphrase"],
    );
}

#[test]
fn oauth_code_in_a_query() {
    let out = masks(
        "GET /oauth/callback?code=4/0AX4XfWh8Kq&state=xyz123 302",
        &["4/0AX4XfWh8Kq"],
        &["/oauth/callback?code=", "state=xyz123", "302"],
    );
    assert_eq!(out, "GET /oauth/callback?code=[REDACTED]&state=xyz123 302");
    masks(
        "redirect https://app.shop/cb#x?a=1&access_token=ya29zz-abc&expires_in=3600",
        &["ya29zz-abc"],
        &["expires_in=3600", "https://app.shop/cb"],
    );
    masks(
        "https://bucket.s3.amazonaws.com/x?X-Amz-Expires=60&X-Amz-Signature=9b2f1e0d7c",
        &["9b2f1e0d7c"],
        &["X-Amz-Expires=60"],
    );
}

#[test]
fn environment_style_keys() {
    for (line, secret, key) in [
        ("DB_PASS=hunter2", "hunter2", "DB_PASS="),
        (
            "POSTGRES_PASSWORD=pg-Secret-1",
            "pg-Secret-1",
            "POSTGRES_PASSWORD=",
        ),
        ("JWT_SECRET=abc.def.ghi", "abc.def.ghi", "JWT_SECRET="),
        ("GITHUB_TOKEN=deadbeefcafe", "deadbeefcafe", "GITHUB_TOKEN="),
        ("STRIPE_API_KEY=rk_abc_123", "rk_abc_123", "STRIPE_API_KEY="),
        (
            "export MYSQL_ROOT_PASS='x y z'",
            "x y z",
            "MYSQL_ROOT_PASS=",
        ),
        ("env: REDIS_PWD=qwerty", "qwerty", "REDIS_PWD="),
    ] {
        let out = masks(line, &[secret], &[key]);
        assert!(
            out.ends_with("[REDACTED]") || out.ends_with("[REDACTED]'"),
            "{out}"
        );
    }
}

#[test]
fn json_secret_keys() {
    let out = masks(
        r#"{"user":"bob","bearer": "q1w2e3r4t5","password":"hunter2","token":"t0k3n","secret":"s3cr3t","api_key":"k3y","region":"eu"}"#,
        &["q1w2e3r4t5", "hunter2", "t0k3n", "s3cr3t", "k3y"],
        &[
            r#""user":"bob""#,
            r#""region":"eu""#,
            r#""bearer": "[REDACTED]""#,
        ],
    );
    assert!(out.contains(r#""password":"[REDACTED]""#), "{out}");
    // JSON escaped inside a log line's JSON.
    masks(
        r#"{"msg":"body {\"password\":\"hunter2\",\"user\":\"bob\"}"}"#,
        &["hunter2"],
        &[r#"\"user\":\"bob\""#, r#"\"password\""#],
    );
}

#[test]
fn aws_credentials() {
    masks(
        "AWS AKIAIOSFODNN7EXAMPLE used",
        &["AKIAIOSFODNN7EXAMPLE"],
        &["AWS ", " used"],
    );
    masks(
        "session ASIAY34FZKBOKMUTVV7A",
        &["ASIAY34FZKBOKMUTVV7A"],
        &[],
    );
    let out = masks(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        &["wJalrXUtnFEMI"],
        &["aws_secret_access_key"],
    );
    assert_eq!(out, "aws_secret_access_key = [REDACTED]");
}

#[test]
fn gcp_service_account_private_key() {
    let json = r#"{"type": "service_account", "project_id": "shop", "private_key_id": "1a2b3c", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n", "client_email": "sa@shop.iam.gserviceaccount.com"}"#;
    masks(
        json,
        &["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"],
        &[
            r#""private_key": "#,
            r#""project_id": "shop""#,
            "sa@shop.iam.gserviceaccount.com",
        ],
    );
}

#[test]
fn azure_keys_and_signatures() {
    let out = masks(
        "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Zm9vYmFyYmF6cXV4cXV1eA0123456789abcdef==;EndpointSuffix=core.windows.net",
        &["Zm9vYmFyYmF6cXV4cXV1eA"],
        &[
            "AccountName=shop",
            "AccountKey=",
            "EndpointSuffix=core.windows.net",
        ],
    );
    assert!(out.contains("AccountKey=[REDACTED];"), "{out}");
    masks(
        "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abcdEFGH1234ijkl5678mnop=",
        &["abcdEFGH1234ijkl5678mnop"],
        &["SharedAccessKeyName=send"],
    );
    masks(
        "BlobEndpoint=https://shop.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig=Ab12Cd34%2Bef%3D",
        &["Ab12Cd34"],
        &[
            "BlobEndpoint=https://shop.blob.core.windows.net/",
            "SharedAccessSignature=",
        ],
    );
    masks(
        "GET https://shop.blob.core.windows.net/c/x?sv=2022-11-02&sig=Zx9Yw8Vu7Ts6%3D 403",
        &["Zx9Yw8Vu7Ts6"],
        &["sv=2022-11-02", "403"],
    );
}

#[test]
fn jwts() {
    let out = masks(
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U accepted",
        &["eyJhbGciOiJIUzI1NiJ9", "dozjgNryP4J3"],
        &["accepted"],
    );
    assert_eq!(out, "token [REDACTED] accepted");
}

const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi2Q6Xb5CvvL8p1UHaBqQx0Jk6W
nF0Ryq8Kx4Y2VdLkS7eN3pWfG1hT9uJ0cQ5aR8bX2mZ4vE6wP1sD7yK3lO0iU9tA
Hs2Kq8Lm3Np
-----END RSA PRIVATE KEY-----";

#[test]
fn pem_private_key_as_one_text() {
    let text = format!("loaded config\n{KEY}\nlistening on :8080");
    let out = masks(
        &text,
        &["MIIEpAIBAAKCAQEA", "nF0Ryq8Kx4Y2", "Hs2Kq8Lm3Np"],
        &["loaded config", "listening on :8080"],
    );
    assert_eq!(
        out,
        "loaded config\n[REDACTED PRIVATE KEY]\nlistening on :8080"
    );
    // Cut before its end (a truncated log): masked to the end.
    let cut =
        "key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
    let out = masks(cut, &["b3BlbnNzaC1rZXkt"], &["key: "]);
    assert_eq!(out, "key: [REDACTED PRIVATE KEY]");
}

#[test]
fn pem_private_key_line_by_line() {
    let text = format!("starting\n{KEY}\nready");
    let lines = redact_lines(&text);
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0], "starting");
    for l in &lines[1..6] {
        assert_eq!(l, PRIVATE_KEY_MASK);
    }
    assert_eq!(lines[6], "ready");
    // Each line redacted on its own, without memory of the block: the first and last lines
    // and every full-width body line are masked.
    for line in KEY.lines().take(3).chain(KEY.lines().skip(4)) {
        let out = redact(line);
        assert!(out.contains("[REDACTED"), "{line:?} -> {out:?}");
    }
    let mut r = LineRedactor::new();
    r.line("2026-01-01T00:00:00Z dumping key -----BEGIN EC PRIVATE KEY-----");
    assert!(r.in_private_key());
    assert_eq!(r.line("Hs2K"), PRIVATE_KEY_MASK);
    assert_eq!(
        r.line("-----END EC PRIVATE KEY----- token=abc123"),
        "[REDACTED PRIVATE KEY] token=[REDACTED]"
    );
    assert!(!r.in_private_key());
    assert_eq!(r.line("ready"), "ready");
}

#[test]
fn connection_strings_keep_user_and_host() {
    for (url, secret, keep) in [
        (
            "dial postgres://app:hunter2secret@db.shop:5432/orders",
            "hunter2secret",
            "postgres://app:[REDACTED]@db.shop:5432/orders",
        ),
        (
            "mysql://root:My-Pa55@mysql.shop:3306/shop",
            "My-Pa55",
            "mysql://root:[REDACTED]@mysql.shop:3306/shop",
        ),
        (
            "mongodb+srv://svc:Zm9vYmFy@cluster0.abcde.mongodb.net/?retryWrites=true",
            "Zm9vYmFy",
            "mongodb+srv://svc:[REDACTED]@cluster0.abcde.mongodb.net/?retryWrites=true",
        ),
        (
            "redis://:r3d1sPassw0rd@cache.shop:6379/0",
            "r3d1sPassw0rd",
            "redis://:[REDACTED]@cache.shop:6379/0",
        ),
        (
            "amqp://guest:rabbit-S3cret-77@mq.shop:5672/",
            "rabbit-S3cret-77",
            "amqp://guest:[REDACTED]@mq.shop:5672/",
        ),
        (
            "jdbc:postgresql://db:5432/shop?user=app&password=pgS3cret",
            "pgS3cret",
            "jdbc:postgresql://db:5432/shop?user=app&password=",
        ),
        (
            "Server=db;User Id=sa;Password=S3cr3t!;Database=shop",
            "S3cr3t!",
            "Server=db;User Id=sa;Password=[REDACTED];Database=shop",
        ),
    ] {
        masks(url, &[secret], &[keep]);
    }
}

#[test]
fn slack_github_and_stripe_tokens() {
    for (text, secret) in [
        ("slack xoxb-123456789012-abcdefghij", "xoxb-123456789012"),
        ("slack xoxp-2048-4096-SeCrEtSlAcKtOkEn", "SeCrEtSlAcKtOkEn"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
        (
            "clone with github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "github_pat_11ABCDEFG",
        ),
        (
            "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "4eC39HqLyjWDarjtT1zdp7dc",
        ),
        ("openai sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2", "Zx9Yw8Vu7Ts6"),
        (
            "google ya29.a0AfH6SMBx3kYJ8abcdefghijklmnop token",
            "a0AfH6SMBx3kYJ8abcdefghijklmnop",
        ),
    ] {
        masks(text, &[secret], &[]);
    }
}

#[test]
fn generic_key_values() {
    for (text, secret, keep) in [
        (
            "api_key=sk-live-0123456789abcdef0123",
            "sk-live-0123",
            "api_key=",
        ),
        ("apikey: 8f14e45fceea167a", "8f14e45fceea167a", "apikey: "),
        (
            "client secret=shhh-its-4-secret rotated",
            "shhh-its-4",
            "secret=",
        ),
        ("refresh token=r3fr3sh-me now", "r3fr3sh-me", "token="),
        ("X-API-Key: 0123abcd", "0123abcd", "X-API-Key: "),
        ("password: letmein", "letmein", "password: "),
        (
            "cfg={Host:db Password:hunter Port:5432}",
            "hunter",
            "Port:5432",
        ),
        (
            r#"{:user => "bob", :password => "hunter2"}"#,
            "hunter2",
            ":password => ",
        ),
    ] {
        masks(text, &[secret], &[keep]);
    }
}

#[test]
fn alert_annotations() {
    masks(
        "Probe failed: curl -H 'Authorization: Bearer 7d9f8a6b5c4e3d2f1a0b' https://pay.shop/health with password=Pa55w0rd!",
        &["7d9f8a6b5c4e3d2f1a0b", "Pa55w0rd!"],
        &["Probe failed", "https://pay.shop/health", "password="],
    );
}

#[test]
fn ordinary_lines_are_left_alone() {
    let lines = [
        "ERROR request failed: dial tcp postgres.shop.svc.cluster.local:80: connect: connection refused",
        "connection refused to postgres:5432",
        "INFO GET /api/cart status=200 duration_ms=12",
        "Last State: Terminated, Reason: OOMKilled, Exit Code: 137",
        "OOMKilled",
        "rate limiter: token bucket exhausted, retrying in 250ms",
        "password policy updated",
        "password policy updated by admin: minimum length 12",
        "invalid token: signature mismatch",
        "jwt validation failed: token is expired",
        "FATAL: password authentication failed for user \"app\"",
        "max_tokens=1024 prompt_tokens=812 completion_tokens=96",
        "secretName: db-creds",
        "MountVolume.SetUp failed for volume \"db-creds\" : secret \"db-creds\" not found",
        "password: null",
        "Back-off restarting failed container checkout in pod checkout-7d4b9c-x2x9z",
        "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available",
        "Readiness probe failed: Get \"http://10.0.0.5:8080/healthz\": dial tcp 10.0.0.5:8080: connect: connection refused",
        "Successfully pulled image \"registry.shop/checkout:v1.4.2\" in 1.2s",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a8f2b]",
        "goroutine 1 [running]:",
        "main.(*Server).handle(0xc000118000, {0x7f3e2c, 0xc0001a2000})",
        "\t/app/server.go:142 +0x1d",
        "Exception in thread \"main\" java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null",
        "\tat com.shop.checkout.PaymentService.charge(PaymentService.java:87)",
        "Caused by: org.postgresql.util.PSQLException: Connection to db:5432 refused.",
        "\t... 42 more",
        "Traceback (most recent call last):",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "user alice logged in from 10.1.2.3 via https://sso.shop/login?next=/cart",
        "GET /search?q=basic+authentication&page=2 200",
        "authorization: denied for user bob",
        "Basic authentication required",
        "mkdir -p /var/lib/app && mysql --version",
        "cache key=user:42 hit",
        "PWD=/app",
    ];
    for line in lines {
        assert_eq!(redact(line), line);
    }
}

#[test]
fn operator_patterns_mask_groups_or_the_whole_match() {
    let r = Redactor::with_patterns(&[
        r"(?i)x-internal-key: \S+".to_string(),
        r"employee-id=(\d+)".to_string(),
    ])
    .unwrap();
    assert_eq!(
        r.redact("GET /x X-Internal-Key: abc status=200"),
        "GET /x [REDACTED] status=200"
    );
    assert_eq!(
        r.redact("lookup employee-id=123456 ok"),
        "lookup employee-id=[REDACTED] ok"
    );
    // The built-in rules still apply.
    assert_eq!(r.redact("DB_PASS=x1"), "DB_PASS=[REDACTED]");
    assert_eq!(r.patterns().len(), 2);
}

#[test]
fn a_bad_pattern_is_named() {
    let e = Redactor::with_patterns(&["ok".to_string(), "(?i)key: (\\S+".to_string()]).unwrap_err();
    assert_eq!(e.index, 1);
    let msg = e.to_string();
    assert!(
        msg.contains("(?i)key: (\\\\S+") && msg.contains("unclosed"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert!(check_patterns(&["(".to_string()]).is_err());
    assert!(add_patterns(&["[z-a]".to_string()]).is_err());
}

#[test]
fn installed_patterns_apply_process_wide() {
    let p = r"nightshift-redact-test-(\w+)".to_string();
    assert_eq!(
        redact("nightshift-redact-test-abc"),
        "nightshift-redact-test-abc"
    );
    add_patterns(std::slice::from_ref(&p)).unwrap();
    add_patterns(std::slice::from_ref(&p)).unwrap();
    assert_eq!(installed_patterns().iter().filter(|x| **x == p).count(), 1);
    assert_eq!(
        redact("see nightshift-redact-test-abc"),
        "see nightshift-redact-test-[REDACTED]"
    );
    assert_eq!(
        redact_lines("a\nnightshift-redact-test-z")[1],
        "nightshift-redact-test-[REDACTED]"
    );
}

/// Typical log lines, one in fifty with a secret.
fn sample_lines(n: usize) -> Vec<String> {
    let ordinary = [
        "2026-01-01T00:03:30.123Z INFO  GET /api/cart status=200 duration_ms=12 user=alice",
        "2026-01-01T00:03:30.456Z WARN  retrying request to payments.shop.svc:8080 after 250ms (attempt 2)",
        "2026-01-01T00:03:31.001Z ERROR dial tcp 10.0.3.7:5432: connect: connection refused",
        "level=info ts=2026-01-01T00:03:31Z caller=main.go:142 msg=\"cache refreshed\" entries=1024",
        "\tat com.shop.checkout.PaymentService.charge(PaymentService.java:87)",
        "{\"level\":\"info\",\"msg\":\"order placed\",\"order\":\"o-12345\",\"amount\":42.5}",
        "panic: runtime error: index out of range [3] with length 3",
    ];
    let secret = [
        "2026-01-01T00:03:32Z DEBUG Authorization: Bearer abcdefghijklmnop12345",
        "connecting to postgres://app:hunter2@db.shop:5432/orders",
    ];
    (0..n)
        .map(|i| {
            if i % 50 == 49 {
                secret[i / 50 % secret.len()].to_string()
            } else {
                ordinary[i % ordinary.len()].to_string()
            }
        })
        .collect()
}

/// The figure for the documentation: `cargo test -p nightshift-core --release redact::tests::
/// throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
fn throughput() {
    let lines = sample_lines(100_000);
    let bytes: usize = lines.iter().map(String::len).sum();
    let _ = redact(&lines[0]);
    let start = std::time::Instant::now();
    let mut changed = 0;
    for l in &lines {
        if redact(l) != *l {
            changed += 1;
        }
    }
    let took = start.elapsed();
    println!(
        "redacted {} lines ({:.1} MB, {changed} with a secret) in {:.1} ms: {:.0} ns a line, {:.0} MB/s",
        lines.len(),
        bytes as f64 / 1e6,
        took.as_secs_f64() * 1e3,
        took.as_nanos() as f64 / lines.len() as f64,
        bytes as f64 / 1e6 / took.as_secs_f64()
    );
    assert_eq!(changed, 2000);
}
