//! The demo world's fixed data: countries (traffic share, time zone, client address pools),
//! the daily and weekly traffic shape, user agents, referrers, and the words page paths and
//! the scanner's probes are made of.

pub(super) struct Country {
    pub(super) code: &'static str,
    pub(super) utc_offset_min: i64,
    pub(super) share: f64,
    pub(super) pool: usize,
    pub(super) v4_first_octets: [u8; 3],
    pub(super) v6_prefix: u16,
}

/// Code, offset from UTC in minutes, share of the visitors, client IPs, first octets of its
/// IPv4 addresses, first group of its IPv6 addresses.
pub(super) const COUNTRIES: [Country; 12] = [
    country("US", -300, 0.27, 1400, [73, 98, 174], 0x2600),
    country("DE", 60, 0.12, 600, [84, 91, 93], 0x2a02),
    country("GB", 0, 0.09, 450, [81, 86, 109], 0x2a00),
    country("FR", 60, 0.08, 400, [90, 78, 92], 0x2a01),
    country("IN", 330, 0.08, 400, [117, 49, 106], 0x2401),
    country("BR", -180, 0.07, 350, [177, 179, 189], 0x2804),
    country("JP", 540, 0.07, 350, [126, 133, 153], 0x240b),
    country("NL", 60, 0.05, 250, [145, 77, 62], 0x2a10),
    country("ES", 60, 0.05, 220, [88, 83, 95], 0x2a0c),
    country("CA", -300, 0.04, 220, [99, 142, 184], 0x2607),
    country("AU", 600, 0.04, 220, [101, 110, 124], 0x2403),
    country("MX", -360, 0.04, 200, [187, 189, 201], 0x2806),
];

const fn country(
    code: &'static str,
    utc_offset_min: i64,
    share: f64,
    pool: usize,
    v4: [u8; 3],
    v6: u16,
) -> Country {
    Country {
        code,
        utc_offset_min,
        share,
        pool,
        v4_first_octets: v4,
        v6_prefix: v6,
    }
}

pub(super) const US: usize = 0;
pub(super) const DE: usize = 1;
pub(super) const BR: usize = 5;
pub(super) const NL: usize = 7;

/// Relative traffic by local hour (interpolated per minute): quiet at 4 am, a lunch bump and
/// an evening peak.
pub(super) const DAILY: [f64; 24] = [
    0.45, 0.30, 0.20, 0.15, 0.13, 0.15, 0.25, 0.45, 0.70, 0.90, 1.05, 1.15, 1.25, 1.20, 1.15, 1.15,
    1.20, 1.30, 1.45, 1.60, 1.65, 1.50, 1.10, 0.70,
];

/// Relative traffic by local weekday, Monday first: quieter weekends.
pub(super) const WEEKLY: [f64; 7] = [1.0, 1.02, 1.03, 1.0, 0.95, 0.70, 0.65];

/// Browser and tool user agents with their weights.
pub(super) const USER_AGENTS: [(&str, u32); 11] = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", 12),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15", 8),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", 18),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", 15),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 6),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0", 6),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 2),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", 2),
    ("curl/8.5.0", 1),
    ("python-requests/2.31.0", 1),
];

pub(super) const REFERRERS: [&str; 5] = [
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://t.co/",
    "https://www.facebook.com/",
];

pub(super) const SITE: &str = "https://shop.example.com";
pub(super) const STALE_ASSET: &str = "/static/js/app.7f3c2a9e.js";
pub(super) const SCANNER_IP: &str = "198.51.100.23";

pub(super) const ADJECTIVES: [&str; 20] = [
    "classic",
    "urban",
    "trail",
    "light",
    "warm",
    "rapid",
    "compact",
    "soft",
    "waterproof",
    "vintage",
    "smart",
    "solar",
    "wooden",
    "steel",
    "wireless",
    "organic",
    "foldable",
    "retro",
    "modular",
    "silent",
];
pub(super) const NOUNS: [&str; 25] = [
    "jacket",
    "backpack",
    "lamp",
    "kettle",
    "headphones",
    "tent",
    "bottle",
    "chair",
    "desk",
    "watch",
    "camera",
    "speaker",
    "blender",
    "sneakers",
    "scarf",
    "wallet",
    "bicycle",
    "helmet",
    "mug",
    "notebook",
    "charger",
    "router",
    "pillow",
    "umbrella",
    "keyboard",
];

pub(super) const SCAN_DIRS: [&str; 30] = [
    "admin",
    "wp-admin",
    "backup",
    ".git",
    "config",
    "phpmyadmin",
    "old",
    "test",
    "api",
    "uploads",
    "cgi-bin",
    "data",
    "db",
    "dev",
    "tmp",
    "private",
    "logs",
    "vendor",
    "includes",
    "server",
    "conf",
    "secret",
    "staging",
    "sql",
    "install",
    "setup",
    "bak",
    "files",
    "system",
    "storage",
];
pub(super) const SCAN_FILES: [&str; 40] = [
    "index.php",
    "config.php",
    ".env",
    "backup.zip",
    "db.sql",
    "dump.sql",
    "admin.php",
    "login.php",
    "wp-login.php",
    "phpinfo.php",
    "settings.py",
    "config.json",
    "config.yml",
    "credentials.json",
    "id_rsa",
    "web.config",
    ".htpasswd",
    ".htaccess",
    "debug.log",
    "error.log",
    "shell.php",
    "upload.php",
    "database.yml",
    "secrets.txt",
    "server-status",
    "console",
    "actuator",
    "install.php",
    "setup.php",
    "composer.json",
    "package.json",
    "docker-compose.yml",
    "Dockerfile",
    "backup.tar.gz",
    "site.tar",
    "users.csv",
    "passwords.txt",
    "xmlrpc.php",
    "wp-config.php",
    "info.php",
];
