//! `make bench`: figures, printed, never asserted. Runs against the fake
//! provider on 127.0.0.1, the real keyring (a Secret Service in the bench's
//! session) and real SQLite files.
//!
//!   cargo bench --bench keyport [-- section…]   sections: connect token storm scale

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_provider::{Account, Config, FakeProvider};
use keyport_core::catalog::RedirectMode;
use keyport_core::paths::Paths;
use keyport_core::secrets::{Secret, SecretStore};
use keyport_core::service::{keyring_service, ConnectOptions, Keyport};

struct Bench {
    _dir: tempfile::TempDir,
    paths: Paths,
    provider: FakeProvider,
    kp: Keyport,
}

impl Bench {
    async fn new(config: Config) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path().join("data"), dir.path().join("config"));
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        let provider = FakeProvider::start(config);
        let base = provider.base_url();
        std::fs::write(
            paths.user_catalog(),
            format!(
                "[[integration]]\nid = \"gmail\"\nauthorize_url = \"{base}/authorize\"\nissuer = \"{base}\"\ntoken_url = \"{base}/token\"\n\
                 revocation_url = \"{base}/revoke\"\nuserinfo_url = \"{base}/userinfo\"\n\
                 check_url = \"{base}/gmail/v1/users/me/profile\"\napi_origins = [\"{base}\"]\n"
            ),
        )
        .unwrap();
        let kp = Keyport::open(paths.clone()).unwrap();
        kp.trust_endpoints("gmail").unwrap();
        kp.set_client(
            "google",
            &provider.client_id(),
            Some(Secret::new(provider.client_secret())),
        )
        .await
        .unwrap();
        Bench {
            _dir: dir,
            paths,
            provider,
            kp,
        }
    }

    async fn connect(&self, account: &str, mode: RedirectMode) -> keyport_core::store::Connection {
        let started = self
            .kp
            .initiate(
                "gmail",
                ConnectOptions {
                    redirect: Some(mode),
                    login_hint: Some(account.to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let link = self.provider.follow_authorize(&started.auth_url).unwrap();
        if mode == RedirectMode::Loopback {
            let kp = self.kp.clone();
            let serve = tokio::spawn(async move {
                kp.await_flow(
                    started,
                    Duration::from_secs(10),
                    Arc::new(tokio::sync::Notify::new()),
                )
                .await
            });
            reqwest::get(&link).await.unwrap();
            serve.await.unwrap().unwrap()
        } else {
            self.kp.handle_deep_link(&link).await.unwrap()
        }
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyport"));
        c.args(args)
            .env("KEYPORT_DATA_DIR", &self.paths.data_dir)
            .env("KEYPORT_CONFIG_DIR", &self.paths.config_dir);
        c
    }
}

fn stats(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label:<52} n={:<5} median {:>9.2} ms   p99 {:>9.2} ms",
        samples.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3
    );
}

fn accounts(n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| {
            Account::new(
                &format!("{}", 5000 + i),
                &format!("user{i}@firm.example"),
                &format!("User {i}"),
                i as u64,
            )
        })
        .collect()
}

async fn connect_flow() {
    println!("\n== Connect flow (initiate → authorize → loopback callback → token → identity → keyring → SQLite)");
    let b = Bench::new(Config {
        accounts: accounts(60),
        ..Config::default()
    })
    .await;
    let mut samples = Vec::new();
    for i in 0..60 {
        let t = Instant::now();
        b.connect(&format!("user{i}@firm.example"), RedirectMode::Loopback)
            .await;
        if i >= 10 {
            samples.push(t.elapsed());
        }
    }
    let samples_copy = samples.clone();
    stats("keyport connect, loopback, in-process", samples);

    // The floor: the raw round trips plus one keyring write and one commit.
    let http = reqwest::Client::new();
    let secrets = SecretStore::native(keyring_service(&b.paths));
    let base = b.provider.base_url();
    let mut floor = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let _ = http
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        let _ = http
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        let _ = http
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        let _ = http
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        secrets
            .set(
                &keyport_core::secrets::SecretKey::ClientSecret("bench-floor".into()),
                "x",
            )
            .unwrap();
        b.kp.set_client("bench-floor", "x", None).await.unwrap();
        floor.push(t.elapsed());
    }
    stats(
        "floor: 4 HTTP round trips + keyring write + commit",
        floor.clone(),
    );
    let ours = median(&samples_copy);
    let floor_median = median(&floor);
    println!("keyport / floor: {:.2}×", ours / floor_median);

    // The peer: Google's own desktop library, same provider, same flow.
    match std::env::var("KEYPORT_PEER_PYTHON") {
        Err(_) => println!("peer: skipped (set KEYPORT_PEER_PYTHON; `make bench` does)"),
        Ok(python) => {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/bench/peer_flow.py"
            );
            let out = Command::new(python)
                .args([
                    script,
                    &base,
                    &b.provider.client_id(),
                    &b.provider.client_secret(),
                    "60",
                ])
                .env("no_proxy", "*")
                .output()
                .expect("run the peer");
            if !out.status.success() {
                println!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
                return;
            }
            let secs: Vec<f64> = serde_json::from_slice(&out.stdout).expect("peer JSON");
            let peer: Vec<Duration> = secs
                .into_iter()
                .skip(10)
                .map(Duration::from_secs_f64)
                .collect();
            stats(
                "google-auth-oauthlib InstalledAppFlow.run_local_server",
                peer.clone(),
            );
            println!(
                "peer / keyport: {:.2}× (higher is better for Keyport)",
                median(&peer) / ours
            );
        }
    }
}

fn median(samples: &[Duration]) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64()).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// `n` timed runs of the command `make` builds, after 5 unmeasured ones;
/// every run must succeed.
fn runs(n: usize, make: impl Fn() -> Command) -> Vec<Duration> {
    let mut samples = Vec::new();
    for i in 0..n + 5 {
        let mut cmd = make();
        let t = Instant::now();
        let out = cmd.output().unwrap();
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if i >= 5 {
            samples.push(took);
        }
    }
    samples
}

async fn token_broker() {
    println!("\n== Token broker: `keyport token` as a whole process");
    let b = Bench::new(Config::default()).await;
    let c = b.connect("ana@firm.example", RedirectMode::DeepLink).await;
    let mut version = Vec::new();
    for i in 0..35 {
        let t = Instant::now();
        let out = b.cli(&["--version"]).output().unwrap();
        assert!(out.status.success());
        if i >= 5 {
            version.push(t.elapsed());
        }
    }
    stats("keyport --version", version);
    let mut cached = Vec::new();
    for i in 0..35 {
        let t = Instant::now();
        let out = b.cli(&["token", &c.id]).output().unwrap();
        assert!(out.status.success());
        if i >= 5 {
            cached.push(t.elapsed());
        }
    }
    stats("keyport token (cached)", cached);
    let xoauth2 = runs(30, || b.cli(&["token", &c.id, "--xoauth2"]));
    stats("keyport token --xoauth2 (cached)", xoauth2);

    // `keyport api` against curl with the token in hand, same request.
    let token = b.kp.access_token(&c.id).await.unwrap();
    let url = format!("{}/gmail/v1/users/me/profile", b.provider.base_url());
    let auth = format!("Authorization: Bearer {}", token.expose());
    let curl = runs(30, || {
        let mut cmd = Command::new("curl");
        cmd.args(["--silent", "--fail", "-H", &auth, &url]);
        cmd
    });
    let api = runs(30, || b.cli(&["api", &c.id, "/gmail/v1/users/me/profile"]));
    let (curl_ms, api_ms) = (median(&curl) * 1000.0, median(&api) * 1000.0);
    stats("curl with the token in hand", curl);
    stats("keyport api (cached token)", api);
    println!(
        "keyport api overhead over curl: median {:.2} ms",
        api_ms - curl_ms
    );
    let secrets = SecretStore::native(keyring_service(&b.paths));
    let mut refreshing = Vec::new();
    for _ in 0..30 {
        let mut t = secrets.get_tokens(&c.id).unwrap().unwrap();
        t.expires_at = Some(0);
        secrets.set_tokens(&c.id, &t).unwrap();
        let start = Instant::now();
        let out = b.cli(&["token", &c.id]).output().unwrap();
        assert!(out.status.success());
        refreshing.push(start.elapsed());
    }
    stats("keyport token (with a refresh)", refreshing);
}

async fn refresh_storm() {
    println!("\n== Refresh storm: 200 concurrent callers of one expired, rotating connection");
    let b = Bench::new(Config {
        rotate_refresh_tokens: true,
        ..Config::default()
    })
    .await;
    let c = b.connect("ana@firm.example", RedirectMode::DeepLink).await;
    for round in 0..3 {
        let secrets = SecretStore::native(keyring_service(&b.paths));
        let mut t = secrets.get_tokens(&c.id).unwrap().unwrap();
        t.expires_at = Some(0);
        secrets.set_tokens(&c.id, &t).unwrap();
        b.provider.reset_counts();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (kp, id) = (b.kp.clone(), c.id.clone());
            tasks.spawn(async move {
                let t = Instant::now();
                kp.access_token(&id).await.map(|_| t.elapsed())
            });
        }
        let mut lat = Vec::new();
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(d) => lat.push(d),
                Err(_) => failed += 1,
            }
        }
        println!(
            "round {round}: requests 200, refreshes at the provider {}, failures {failed}",
            b.provider.token_requests("refresh_token")
        );
        stats("  latency per caller", lat);
    }
}

async fn scale() {
    println!("\n== Scale: 1,000 connections");
    let n = 1000;
    let b = Bench::new(Config {
        accounts: accounts(n),
        ..Config::default()
    })
    .await;
    let t = Instant::now();
    for i in 0..n {
        b.connect(&format!("user{i}@firm.example"), RedirectMode::DeepLink)
            .await;
    }
    println!(
        "connected {n} accounts in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut list = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let all = b.kp.list().unwrap();
        assert_eq!(all.len(), n);
        list.push(t.elapsed());
    }
    stats("list 1,000 connections (core)", list);
    let mut cli = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let out = b.cli(&["list", "--json"]).output().unwrap();
        assert!(out.status.success());
        cli.push(t.elapsed());
    }
    stats("keyport list --json, 1,000 connections (process)", cli);
    let ids: Vec<String> = b.kp.list().unwrap().into_iter().map(|c| c.id).collect();
    b.provider.reset_counts();
    let t = Instant::now();
    let ok = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ok2 = ok.clone();
    b.kp.check_many(
        ids,
        keyport_core::health::DEFAULT_CONCURRENCY,
        Duration::ZERO,
        Arc::new(move |_, r| {
            if r.is_ok() {
                ok2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }),
    )
    .await;
    println!(
        "check 1,000 connections, concurrency 4: {:.2} s ({} healthy, {} provider requests)",
        t.elapsed().as_secs_f64(),
        ok.load(std::sync::atomic::Ordering::Relaxed),
        b.provider.requests(fake_provider::Endpoint::GmailProfile)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    println!(
        "Keyport benchmarks ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if want("connect") {
        connect_flow().await;
    }
    if want("token") {
        token_broker().await;
    }
    if want("storm") {
        refresh_storm().await;
    }
    if want("scale") {
        scale().await;
    }
}
