//! Audit record types: the number the kernel puts in the netlink header and
//! the name auditd writes as `type=NAME`, mapped both ways.
//!
//! The table covers the kernel's `include/uapi/linux/audit.h` types and the
//! user-space ranges libaudit names; it is not a registry of every type a
//! future kernel may add. A number without a name prints, and parses back, as
//! `UNKNOWN[NNNN]`, which is what auditd writes for it, so no record is ever
//! refused for its type.

use std::fmt;

/// The type of one audit record (`nlmsg_type` on the netlink socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordType(pub u16);

macro_rules! record_types {
    ($($konst:ident = $num:literal,)*) => {
        impl RecordType {
            $(
                #[doc = concat!("`", stringify!($konst), "` (", stringify!($num), ").")]
                pub const $konst: RecordType = RecordType($num);
            )*

            /// The name auditd writes for this type, if it has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($num => Some(stringify!($konst)),)*
                    _ => None,
                }
            }
        }

        /// Every named type, for the name-to-number direction.
        const NAMED: &[(&str, u16)] = &[$((stringify!($konst), $num),)*];
    };
}

// Numbers from include/uapi/linux/audit.h (kernel ranges) and libaudit.h
// (user-space ranges). Control messages (1000-1099) are requests on the audit
// socket, never records, but naming them costs nothing and helps debugging.
record_types! {
    GET = 1000,
    SET = 1001,
    LIST = 1002,
    ADD = 1003,
    DEL = 1004,
    USER = 1005,
    LOGIN = 1006,
    WATCH_INS = 1007,
    WATCH_REM = 1008,
    WATCH_LIST = 1009,
    SIGNAL_INFO = 1010,
    ADD_RULE = 1011,
    DEL_RULE = 1012,
    LIST_RULES = 1013,
    TRIM = 1014,
    MAKE_EQUIV = 1015,
    TTY_GET = 1016,
    TTY_SET = 1017,
    SET_FEATURE = 1018,
    GET_FEATURE = 1019,
    USER_AUTH = 1100,
    USER_ACCT = 1101,
    USER_MGMT = 1102,
    CRED_ACQ = 1103,
    CRED_DISP = 1104,
    USER_START = 1105,
    USER_END = 1106,
    USER_AVC = 1107,
    USER_CHAUTHTOK = 1108,
    USER_ERR = 1109,
    CRED_REFR = 1110,
    USYS_CONFIG = 1111,
    USER_LOGIN = 1112,
    USER_LOGOUT = 1113,
    ADD_USER = 1114,
    DEL_USER = 1115,
    ADD_GROUP = 1116,
    DEL_GROUP = 1117,
    DAC_CHECK = 1118,
    CHGRP_ID = 1119,
    TEST = 1120,
    TRUSTED_APP = 1121,
    USER_SELINUX_ERR = 1122,
    USER_CMD = 1123,
    USER_TTY = 1124,
    CHUSER_ID = 1125,
    GRP_AUTH = 1126,
    SYSTEM_BOOT = 1127,
    SYSTEM_SHUTDOWN = 1128,
    SYSTEM_RUNLEVEL = 1129,
    SERVICE_START = 1130,
    SERVICE_STOP = 1131,
    GRP_MGMT = 1132,
    GRP_CHAUTHTOK = 1133,
    MAC_CHECK = 1134,
    ACCT_LOCK = 1135,
    ACCT_UNLOCK = 1136,
    USER_DEVICE = 1137,
    SOFTWARE_UPDATE = 1138,
    DAEMON_START = 1200,
    DAEMON_END = 1201,
    DAEMON_ABORT = 1202,
    DAEMON_CONFIG = 1203,
    DAEMON_RECONFIG = 1204,
    DAEMON_ROTATE = 1205,
    DAEMON_RESUME = 1206,
    DAEMON_ACCEPT = 1207,
    DAEMON_CLOSE = 1208,
    DAEMON_ERR = 1209,
    SYSCALL = 1300,
    FS_WATCH = 1301,
    PATH = 1302,
    IPC = 1303,
    SOCKETCALL = 1304,
    CONFIG_CHANGE = 1305,
    SOCKADDR = 1306,
    CWD = 1307,
    FS_INODE = 1308,
    EXECVE = 1309,
    IPC_SET_PERM = 1311,
    MQ_OPEN = 1312,
    MQ_SENDRECV = 1313,
    MQ_NOTIFY = 1314,
    MQ_GETSETATTR = 1315,
    KERNEL_OTHER = 1316,
    FD_PAIR = 1317,
    OBJ_PID = 1318,
    TTY = 1319,
    EOE = 1320,
    BPRM_FCAPS = 1321,
    CAPSET = 1322,
    MMAP = 1323,
    NETFILTER_PKT = 1324,
    NETFILTER_CFG = 1325,
    SECCOMP = 1326,
    PROCTITLE = 1327,
    FEATURE_CHANGE = 1328,
    REPLACE = 1329,
    KERN_MODULE = 1330,
    FANOTIFY = 1331,
    TIME_INJOFFSET = 1332,
    TIME_ADJNTPVAL = 1333,
    BPF = 1334,
    EVENT_LISTENER = 1335,
    URINGOP = 1336,
    OPENAT2 = 1337,
    DM_CTRL = 1338,
    DM_EVENT = 1339,
    AVC = 1400,
    SELINUX_ERR = 1401,
    AVC_PATH = 1402,
    MAC_POLICY_LOAD = 1403,
    MAC_STATUS = 1404,
    MAC_CONFIG_CHANGE = 1405,
    MAC_UNLBL_ALLOW = 1406,
    MAC_CIPSOV4_ADD = 1407,
    MAC_CIPSOV4_DEL = 1408,
    MAC_MAP_ADD = 1409,
    MAC_MAP_DEL = 1410,
    MAC_IPSEC_ADDSA = 1411,
    MAC_IPSEC_DELSA = 1412,
    MAC_IPSEC_ADDSPD = 1413,
    MAC_IPSEC_DELSPD = 1414,
    MAC_IPSEC_EVENT = 1415,
    MAC_UNLBL_STCADD = 1416,
    MAC_UNLBL_STCDEL = 1417,
    MAC_CALIPSO_ADD = 1418,
    MAC_CALIPSO_DEL = 1419,
    IPE_ACCESS = 1420,
    IPE_CONFIG_CHANGE = 1421,
    IPE_POLICY_LOAD = 1422,
    LANDLOCK_ACCESS = 1423,
    LANDLOCK_DOMAIN = 1424,
    MAC_TASK_CONTEXTS = 1425,
    MAC_OBJ_CONTEXTS = 1426,
    APPARMOR = 1500,
    APPARMOR_AUDIT = 1501,
    APPARMOR_ALLOWED = 1502,
    APPARMOR_DENIED = 1503,
    APPARMOR_HINT = 1504,
    APPARMOR_STATUS = 1505,
    APPARMOR_ERROR = 1506,
    ANOM_PROMISCUOUS = 1700,
    ANOM_ABEND = 1701,
    ANOM_LINK = 1702,
    ANOM_CREAT = 1703,
    INTEGRITY_DATA = 1800,
    INTEGRITY_METADATA = 1801,
    INTEGRITY_STATUS = 1802,
    INTEGRITY_HASH = 1803,
    INTEGRITY_PCR = 1804,
    INTEGRITY_RULE = 1805,
    INTEGRITY_EVM_XATTR = 1806,
    INTEGRITY_POLICY_RULE = 1807,
    KERNEL = 2000,
    ANOM_LOGIN_FAILURES = 2100,
    ANOM_LOGIN_TIME = 2101,
    ANOM_LOGIN_SESSIONS = 2102,
    ANOM_LOGIN_ACCT = 2103,
    ANOM_LOGIN_LOCATION = 2104,
    ANOM_MAX_DAC = 2105,
    ANOM_MAX_MAC = 2106,
    ANOM_AMTU_FAIL = 2107,
    ANOM_RBAC_FAIL = 2108,
    ANOM_RBAC_INTEGRITY_FAIL = 2109,
    ANOM_CRYPTO_FAIL = 2110,
    ANOM_ACCESS_FS = 2111,
    ANOM_EXEC = 2112,
    ANOM_MK_EXEC = 2113,
    ANOM_ADD_ACCT = 2114,
    ANOM_DEL_ACCT = 2115,
    ANOM_MOD_ACCT = 2116,
    ANOM_ROOT_TRANS = 2117,
    RESP_ANOMALY = 2200,
    RESP_ALERT = 2201,
    RESP_KILL_PROC = 2202,
    RESP_TERM_ACCESS = 2203,
    RESP_ACCT_REMOTE = 2204,
    RESP_ACCT_LOCK_TIMED = 2205,
    RESP_ACCT_UNLOCK_TIMED = 2206,
    RESP_ACCT_LOCK = 2207,
    RESP_TERM_LOCK = 2208,
    RESP_SEBOOL = 2209,
    RESP_EXEC = 2210,
    RESP_SINGLE = 2211,
    RESP_HALT = 2212,
    USER_ROLE_CHANGE = 2300,
    ROLE_ASSIGN = 2301,
    ROLE_REMOVE = 2302,
    LABEL_OVERRIDE = 2303,
    LABEL_LEVEL_CHANGE = 2304,
    USER_LABELED_EXPORT = 2305,
    USER_UNLABELED_EXPORT = 2306,
    DEV_ALLOC = 2307,
    DEV_DEALLOC = 2308,
    FS_RELABEL = 2309,
    USER_MAC_POLICY_LOAD = 2310,
}

impl RecordType {
    /// The type for a name as auditd writes it: a known name, or
    /// `UNKNOWN[NNNN]` for a number auditd could not name.
    pub fn from_name(name: &[u8]) -> Option<RecordType> {
        // The records swmon reads by the thousand come first; the table scan
        // below is for the rest.
        let hot = match name {
            b"SYSCALL" => Some(Self::SYSCALL),
            b"PATH" => Some(Self::PATH),
            b"EXECVE" => Some(Self::EXECVE),
            b"CWD" => Some(Self::CWD),
            b"PROCTITLE" => Some(Self::PROCTITLE),
            b"BPRM_FCAPS" => Some(Self::BPRM_FCAPS),
            b"EOE" => Some(Self::EOE),
            _ => None,
        };
        if hot.is_some() {
            return hot;
        }
        if let Some(digits) = name
            .strip_prefix(b"UNKNOWN[")
            .and_then(|rest| rest.strip_suffix(b"]"))
        {
            return parse_u16(digits).map(RecordType);
        }
        NAMED
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|&(_, num)| RecordType(num))
    }

    /// Records auditd writes about itself (`DAEMON_*`, 1200-1299). They carry
    /// auditd's own serial sequence, not the kernel's, never reach a netlink
    /// listener, and always stand alone.
    pub fn is_daemon(self) -> bool {
        (1200..=1299).contains(&self.0)
    }

    /// Messages user space sent through the kernel (`USER_*` and friends,
    /// 1100-1199 and 2100-2999).
    pub fn is_user(self) -> bool {
        (1100..=1199).contains(&self.0) || (2100..=2999).contains(&self.0)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "UNKNOWN[{}]", self.0),
        }
    }
}

fn parse_u16(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let mut n: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    u16::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_for_every_named_type() {
        for &(name, num) in NAMED {
            let t = RecordType(num);
            assert_eq!(t.name(), Some(name));
            assert_eq!(RecordType::from_name(name.as_bytes()), Some(t));
            assert_eq!(t.to_string(), name);
        }
    }

    #[test]
    fn record_type_numbers_are_the_kernels() {
        assert_eq!(RecordType::SYSCALL.0, 1300);
        assert_eq!(RecordType::PATH.0, 1302);
        assert_eq!(RecordType::CONFIG_CHANGE.0, 1305);
        assert_eq!(RecordType::CWD.0, 1307);
        assert_eq!(RecordType::EXECVE.0, 1309);
        assert_eq!(RecordType::EOE.0, 1320);
        assert_eq!(RecordType::BPRM_FCAPS.0, 1321);
        assert_eq!(RecordType::PROCTITLE.0, 1327);
        assert_eq!(RecordType::SOFTWARE_UPDATE.0, 1138);
        assert_eq!(RecordType::EVENT_LISTENER.0, 1335);
    }

    #[test]
    fn unknown_numbers_use_the_auditd_form() {
        let t = RecordType(1499);
        assert_eq!(t.to_string(), "UNKNOWN[1499]");
        assert_eq!(RecordType::from_name(b"UNKNOWN[1499]"), Some(t));
        assert_eq!(RecordType::from_name(b"UNKNOWN[65536]"), None);
        assert_eq!(RecordType::from_name(b"UNKNOWN[]"), None);
        assert_eq!(RecordType::from_name(b"UNKNOWN[12a]"), None);
        assert_eq!(RecordType::from_name(b"NO_SUCH_TYPE"), None);
    }

    #[test]
    fn ranges() {
        assert!(RecordType::DAEMON_START.is_daemon());
        assert!(!RecordType::SYSCALL.is_daemon());
        assert!(RecordType::USER_CMD.is_user());
        assert!(RecordType::SOFTWARE_UPDATE.is_user());
        assert!(!RecordType::EXECVE.is_user());
    }
}
