//! Kernel struct offsets for the eBPF program, read from the running
//! kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! rustc emits no CO-RE relocations, so the program cannot ask the loader to
//! fix field offsets; instead user space looks each one up here at start and
//! hands them over as a global. A missing field is an error naming it, never
//! a zero that would make the program read the wrong memory.
//!
//! This is a small reader of the BTF format, not a general parser: it walks
//! the type section once, keeping only where each type starts, and decodes
//! the few structs it is asked for. The maintained `btf-rs` crate builds the
//! whole type graph, which took swmon's peak memory from 6 to 41 MiB; the
//! tests check this reader's answers against it.

use std::{collections::HashMap, path::Path};

use swmon_common::{CaptureOffsets, DentryHead, KernelOffsets, ScanOffsets, ELF_KEY_LEN};

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("can't read kernel BTF from {path}: {source} (is CONFIG_DEBUG_INFO_BTF set?)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("kernel BTF is malformed: {0}")]
    Malformed(&'static str),
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF has no field {field} in struct {strukt}")]
    NoField { strukt: String, field: String },
    #[error("field {field} of struct {strukt} is a bitfield or not byte-aligned")]
    Unaligned { strukt: String, field: String },
    #[error(
        "struct dentry is not laid out as the state witness reads it ({0}): d_parent, d_name, \
         d_inode and at least 16 bytes of inline name, adjacent"
    )]
    DentryLayout(String),
}

/// What the eBPF program needs to know of the running kernel.
#[derive(Clone, Copy, Debug)]
pub struct KernelFacts {
    pub offsets: KernelOffsets,
    /// For the capture stages only.
    pub capture_offsets: CaptureOffsets,
    /// For the argv scan stage only.
    pub scan_offsets: ScanOffsets,
    /// `sched_process_exit` passes `group_dead`.
    pub exit_group_dead: bool,
    /// Offset of `linux_binprm.buf`, when it holds at least
    /// [`ELF_KEY_LEN`] bytes (`BINPRM_BUF_SIZE` is 256 since Linux 5.1,
    /// 128 before); 0 otherwise, and the kernel then looks up no near-copy.
    pub bprm_buf: u32,
    /// `I_DIRTY_SYNC | I_DIRTY_DATASYNC | I_DIRTY_PAGES`, what a whole
    /// `mark_inode_dirty` passes (an attribute change: `chmod`): from the
    /// kernel's enum where BTF has it (6.x renumbered the inode state
    /// bits), else the older macros' 1, 2 and 4.
    pub i_dirty: u32,
}

/// Reads the kernel's BTF and takes what the eBPF program needs from it.
pub fn kernel_facts(path: &Path) -> Result<KernelFacts, BtfError> {
    let data = std::fs::read(path).map_err(|source| BtfError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let btf = Btf::parse(&data)?;
    let offsets = offsets(&btf)?;
    check_dentry_head(&btf, &offsets)?;
    Ok(KernelFacts {
        offsets,
        capture_offsets: capture_offsets(&btf)?,
        scan_offsets: scan_offsets(&btf)?,
        exit_group_dead: btf.func_proto_params("btf_trace_sched_process_exit")? >= 3,
        bprm_buf: match btf.array_len("linux_binprm", "buf") {
            Ok(n) if n as usize >= ELF_KEY_LEN => btf.offset("linux_binprm", "buf")?,
            _ => 0,
        },
        i_dirty: match (
            btf.enum_value("I_DIRTY_SYNC"),
            btf.enum_value("I_DIRTY_DATASYNC"),
            btf.enum_value("I_DIRTY_PAGES"),
        ) {
            (Some(a), Some(b), Some(c)) => a | b | c,
            _ => 1 | 2 | 4,
        },
    })
}

/// The raw tracepoints among `names` this kernel does not have: each one it
/// has comes with a `btf_trace_<name>` typedef in its BTF (what `swmon
/// doctor` checks before anything is loaded).
pub fn missing_tracepoints(path: &Path, names: &[&str]) -> Result<Vec<String>, BtfError> {
    let data = std::fs::read(path).map_err(|source| BtfError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let btf = Btf::parse(&data)?;
    Ok(names
        .iter()
        .filter(|n| btf.func_proto_params(&format!("btf_trace_{n}")).is_err())
        .map(|n| (*n).to_owned())
        .collect())
}

/// The BTF id of the kernel function `name` (`BTF_KIND_FUNC`), what a
/// BPF LSM or fentry program names as its target; `None` when this kernel's
/// BTF has no such function.
pub fn function_id(path: &Path, name: &str) -> Result<Option<u32>, BtfError> {
    let data = std::fs::read(path).map_err(|source| BtfError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let btf = Btf::parse(&data)?;
    Ok(btf.function_id(name))
}

/// Reads every offset the eBPF program needs from the BTF at `path`.
pub fn kernel_offsets(path: &Path) -> Result<KernelOffsets, BtfError> {
    Ok(kernel_facts(path)?.offsets)
}

fn offsets(b: &Btf<'_>) -> Result<KernelOffsets, BtfError> {
    Ok(KernelOffsets {
        task_real_parent: b.offset("task_struct", "real_parent")?,
        task_tgid: b.offset("task_struct", "tgid")?,
        task_mm: b.offset("task_struct", "mm")?,
        task_loginuid: b.offset("task_struct", "loginuid")?,
        task_sessionid: b.offset("task_struct", "sessionid")?,
        task_cred: b.offset("task_struct", "cred")?,
        task_exit_code: b.offset("task_struct", "exit_code")?,
        cred_euid: b.offset("cred", "euid")?,
        mm_arg_start: b.offset("mm_struct", "arg_start")?,
        mm_arg_end: b.offset("mm_struct", "arg_end")?,
        mm_exe_file: b.offset("mm_struct", "exe_file")?,
        file_path: b.offset("file", "f_path")?,
        file_inode: b.offset("file", "f_inode")?,
        path_mnt: b.offset("path", "mnt")?,
        path_dentry: b.offset("path", "dentry")?,
        inode_ino: b.offset("inode", "i_ino")?,
        inode_sb: b.offset("inode", "i_sb")?,
        inode_size: b.offset("inode", "i_size")?,
        inode_nlink: b.offset("inode", "__i_nlink")?,
        sb_dev: b.offset("super_block", "s_dev")?,
        dentry_name: b.offset("dentry", "d_name")?,
        dentry_parent: b.offset("dentry", "d_parent")?,
        qstr_len: b.offset("qstr", "len")?,
        qstr_name: b.offset("qstr", "name")?,
        mount_parent: b.offset("mount", "mnt_parent")?,
        mount_mountpoint: b.offset("mount", "mnt_mountpoint")?,
        mount_mnt: b.offset("mount", "mnt")?,
        vfsmount_root: b.offset("vfsmount", "mnt_root")?,
        bprm_filename: b.offset("linux_binprm", "filename")?,
        task_fs: b.offset("task_struct", "fs")?,
        fs_pwd: b.offset("fs_struct", "pwd")?,
        _pad: 0,
    })
}

/// Whether the state witness's one read of a dentry's head
/// ([`DentryHead`], from `d_parent` on) holds what it takes from it: the
/// name right after the parent (its hash, length, then pointer), the inode
/// after the name, then the inline name (`d_shortname` in newer kernels,
/// this 6.18 among them; `d_iname` before) with at least 16 bytes before
/// the next field.
fn check_dentry_head(b: &Btf<'_>, off: &KernelOffsets) -> Result<(), BtfError> {
    let parent = off.dentry_parent;
    let inode = b.offset("dentry", "d_inode")?;
    let inline = b
        .offset("dentry", "d_shortname")
        .or_else(|_| b.offset("dentry", "d_iname"))?;
    let after = b.offset("dentry", "d_op")?;
    let bad = |what: String| Err(BtfError::DentryLayout(what));
    if off.dentry_name != parent + DentryHead::NAME || off.qstr_len != 4 || off.qstr_name != 8 {
        return bad(format!(
            "d_parent at {parent}, d_name at {}, its len at {} and name at {}",
            off.dentry_name, off.qstr_len, off.qstr_name
        ));
    }
    if inode != parent + DentryHead::INODE || inline != parent + DentryHead::INLINE {
        return bad(format!(
            "d_parent at {parent}, d_inode at {inode}, the inline name at {inline}"
        ));
    }
    if after < inline + 16 {
        return bad(format!("the inline name at {inline}, d_op at {after}"));
    }
    Ok(())
}

fn scan_offsets(b: &Btf<'_>) -> Result<ScanOffsets, BtfError> {
    Ok(ScanOffsets {
        task_files: b.offset("task_struct", "files")?,
        files_fdt: b.offset("files_struct", "fdt")?,
        fdtable_fd: b.offset("fdtable", "fd")?,
        mapping_host: b.offset("address_space", "host")?,
        inode_dentry: b.offset("inode", "i_dentry")?,
        dentry_alias: b.offset("dentry", "d_u")?,
        inode_mode: b.offset("inode", "i_mode")?,
        dentry_inode: b.offset("dentry", "d_inode")?,
    })
}

fn capture_offsets(b: &Btf<'_>) -> Result<CaptureOffsets, BtfError> {
    Ok(CaptureOffsets {
        task_group_leader: b.offset("task_struct", "group_leader")?,
        task_start_boottime: b.offset("task_struct", "start_boottime")?,
        task_comm: b.offset("task_struct", "comm")?,
        task_cgroups: b.offset("task_struct", "cgroups")?,
        cred_uid: b.offset("cred", "uid")?,
        css_set_dfl_cgrp: b.offset("css_set", "dfl_cgrp")?,
        cgroup_kn: b.offset("cgroup", "kn")?,
        kernfs_node_name: b.offset("kernfs_node", "name")?,
        // Renamed `__parent` in 6.15 (it became RCU-protected).
        kernfs_node_parent: b
            .offset("kernfs_node", "__parent")
            .or_else(|_| b.offset("kernfs_node", "parent"))?,
        cgroup_level: b.offset("cgroup", "level")?,
        // Before 6.1 the kernel kept only the ancestors' ids: 0 walks up.
        cgroup_ancestors: b.offset("cgroup", "ancestors").unwrap_or(0),
    })
}

const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_ARRAY: u32 = 3;
const KIND_PTR: u32 = 2;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_FUNC: u32 = 12;

/// One type's fixed header.
#[derive(Clone, Copy)]
struct Type {
    name_off: u32,
    kind: u32,
    vlen: u32,
    kind_flag: bool,
    /// `size` or `type`, by kind.
    size_type: u32,
    /// Where the kind's trailing data starts in the type section.
    extra: usize,
}

struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Start of each type in `types`, by id (id 0 is void and has none).
    starts: Vec<u32>,
    /// Named structs, typedefs: first id by name offset's string.
    by_name: HashMap<&'a [u8], Vec<u32>>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> Btf<'a> {
    fn parse(data: &'a [u8]) -> Result<Btf<'a>, BtfError> {
        let bad = BtfError::Malformed;
        if data.get(0..2) != Some(&[0x9f, 0xeb]) {
            return Err(bad("no BTF magic (or not little-endian)"));
        }
        let hdr_len = u32_at(data, 4).ok_or(bad("short header"))? as usize;
        let field = |at| {
            u32_at(data, at)
                .map(|v| v as usize)
                .ok_or(bad("short header"))
        };
        let (type_off, type_len, str_off, str_len) =
            (field(8)?, field(12)?, field(16)?, field(20)?);
        let types = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .ok_or(bad("type section out of bounds"))?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or(bad("string section out of bounds"))?;
        let mut btf = Btf {
            types,
            strings,
            starts: vec![0],
            by_name: HashMap::new(),
        };
        let mut at = 0usize;
        while at < types.len() {
            let t = btf.header(at).ok_or(bad("type cut short"))?;
            let id = u32::try_from(btf.starts.len()).map_err(|_| bad("too many types"))?;
            btf.starts
                .push(u32::try_from(at).map_err(|_| bad("type section too large"))?);
            if t.name_off != 0 && matches!(t.kind, KIND_STRUCT | KIND_UNION | KIND_TYPEDEF) {
                btf.by_name
                    .entry(btf.string(t.name_off))
                    .or_default()
                    .push(id);
            }
            let vlen = t.vlen as usize;
            let extra = match t.kind {
                1 | 14 | 17 => 4,              // int, var, decl tag
                3 => 12,                       // array
                4 | 5 | 15 | 19 => 12 * vlen,  // struct, union, datasec, enum64
                6 | 13 => 8 * vlen,            // enum, func proto
                0 | 2 | 7..=12 | 16 | 18 => 0, // the rest carry nothing more
                _ => return Err(bad("unknown type kind")),
            };
            at = t.extra + extra;
        }
        Ok(btf)
    }

    fn header(&self, at: usize) -> Option<Type> {
        let info = u32_at(self.types, at + 4)?;
        Some(Type {
            name_off: u32_at(self.types, at)?,
            kind: (info >> 24) & 0x1f,
            vlen: info & 0xffff,
            kind_flag: info >> 31 == 1,
            size_type: u32_at(self.types, at + 8)?,
            extra: at + 12,
        })
    }

    /// The value of an enum constant named `name`, in any enum (a linear
    /// scan of the types: once, at start).
    fn enum_value(&self, name: &str) -> Option<u32> {
        for &at in &self.starts[1..] {
            let t = self.header(at as usize)?;
            if t.kind != 6 {
                continue;
            }
            for i in 0..t.vlen as usize {
                let e = t.extra + 8 * i;
                if self.string(u32_at(self.types, e)?) == name.as_bytes() {
                    return u32_at(self.types, e + 4);
                }
            }
        }
        None
    }

    /// The id of function `name` (a linear scan of the types).
    fn function_id(&self, name: &str) -> Option<u32> {
        (1..self.starts.len()).find_map(|id| {
            let id = u32::try_from(id).ok()?;
            let t = self.by_id(id)?;
            (t.kind == KIND_FUNC && self.string(t.name_off) == name.as_bytes()).then_some(id)
        })
    }

    fn by_id(&self, id: u32) -> Option<Type> {
        let at = *self.starts.get(id as usize).filter(|_| id != 0)?;
        self.header(at as usize)
    }

    fn string(&self, off: u32) -> &'a [u8] {
        let rest = self.strings.get(off as usize..).unwrap_or(&[]);
        rest.split(|c| *c == 0).next().unwrap_or(&[])
    }

    /// Byte offset of `field` in struct `strukt`, looking through anonymous
    /// structs and unions (`mm_struct`'s fields sit in one, `qstr.len` in two).
    fn offset(&self, strukt: &str, field: &str) -> Result<u32, BtfError> {
        self.member(strukt, field).map(|(bytes, _)| bytes)
    }

    /// Elements of array `field` of struct `strukt` (`linux_binprm.buf`).
    fn array_len(&self, strukt: &str, field: &str) -> Result<u32, BtfError> {
        let (_, ty) = self.member(strukt, field)?;
        let t = self
            .by_id(ty)
            .filter(|t| t.kind == KIND_ARRAY)
            .ok_or(BtfError::Malformed("the field is not an array"))?;
        // btf_array: element type, index type, element count.
        u32_at(self.types, t.extra + 8).ok_or(BtfError::Malformed("array cut short"))
    }

    /// The id of struct `strukt` (the first with members).
    fn struct_id(&self, strukt: &str) -> Result<u32, BtfError> {
        self.by_name
            .get(strukt.as_bytes())
            .and_then(|ids| {
                ids.iter().copied().find(|id| {
                    self.by_id(*id)
                        .is_some_and(|t| t.kind == KIND_STRUCT && t.vlen > 0)
                })
            })
            .ok_or_else(|| BtfError::NoStruct(strukt.to_owned()))
    }

    /// Byte offset and type id of `field` in struct `strukt`.
    fn member(&self, strukt: &str, field: &str) -> Result<(u32, u32), BtfError> {
        let id = self.struct_id(strukt)?;
        let no_field = || BtfError::NoField {
            strukt: strukt.to_owned(),
            field: field.to_owned(),
        };
        let (bits, ty) = self.find(id, field.as_bytes(), 0, 0).ok_or_else(no_field)?;
        if bits % 8 != 0 {
            return Err(BtfError::Unaligned {
                strukt: strukt.to_owned(),
                field: field.to_owned(),
            });
        }
        Ok((bits / 8, ty))
    }

    /// Bit offset and type id of `field` in type `id`.
    fn find(&self, id: u32, field: &[u8], base: u32, depth: u32) -> Option<(u32, u32)> {
        let t = self.by_id(id)?;
        if !matches!(t.kind, KIND_STRUCT | KIND_UNION) || depth > 8 {
            return None;
        }
        for i in 0..t.vlen as usize {
            let at = t.extra + 12 * i;
            let name = self.string(u32_at(self.types, at)?);
            let member_type = u32_at(self.types, at + 4)?;
            let raw = u32_at(self.types, at + 8)?;
            let bit_offset = if t.kind_flag { raw & 0xff_ffff } else { raw };
            if name == field {
                return Some((base + bit_offset, member_type));
            }
            if name.is_empty() {
                if let Some(off) = self.find(member_type, field, base + bit_offset, depth + 1) {
                    return Some(off);
                }
            }
        }
        None
    }

    /// Parameters of the function prototype a typedef points to
    /// (`btf_trace_*` typedefs: `void (*)(void *, args...)`).
    fn func_proto_params(&self, typedef: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::NoStruct(typedef.to_owned());
        let ids = self.by_name.get(typedef.as_bytes()).ok_or_else(missing)?;
        for id in ids {
            let Some(td) = self.by_id(*id).filter(|t| t.kind == KIND_TYPEDEF) else {
                continue;
            };
            let Some(ptr) = self.by_id(td.size_type).filter(|t| t.kind == KIND_PTR) else {
                continue;
            };
            if let Some(proto) = self
                .by_id(ptr.size_type)
                .filter(|t| t.kind == KIND_FUNC_PROTO)
            {
                return Ok(proto.vlen);
            }
        }
        Err(missing())
    }
}

#[cfg(test)]
mod tests {
    use btf_rs::{BtfType, Type as RsType};

    use super::*;

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

    /// Every machine this project runs on has BTF; the offsets must be
    /// plausible (non-zero where the field cannot be first) and stable.
    #[test]
    fn offsets_from_this_kernel() {
        let off = kernel_offsets(Path::new(VMLINUX)).expect("kernel BTF");
        assert_ne!(off.task_mm, 0);
        assert_ne!(off.mm_exe_file, 0);
        assert_eq!(off.qstr_len, 4, "qstr.len follows the 32-bit hash");
        assert_eq!(off.qstr_name, 8);
        assert_eq!(off.path_mnt, 0);
        assert_eq!(off.path_dentry, 8);
        assert_ne!(off.mount_mnt, 0);
        assert!(off.inode_nlink > off.inode_sb);
        assert_ne!(off.bprm_filename, 0);
        let cap = kernel_facts(Path::new(VMLINUX))
            .expect("kernel BTF")
            .capture_offsets;
        assert_ne!(cap.task_group_leader, 0);
        assert_ne!(cap.task_start_boottime, 0);
        assert_ne!(cap.task_cgroups, 0);
        assert_ne!(cap.kernfs_node_name, 0);
        assert_ne!(cap.kernfs_node_parent, 0);
        assert_ne!(cap.cgroup_level, 0);
    }

    /// The maintained btf-rs crate, as the reference for this reader.
    fn reference(strukt: &str, field: &str) -> u32 {
        fn find(
            btf: &btf_rs::Btf,
            members: &[btf_rs::Member],
            field: &str,
            base: u32,
        ) -> Option<u32> {
            for m in members {
                let name = btf.resolve_name(m).unwrap_or_default();
                if name == field {
                    return Some(base + m.bit_offset());
                }
                if name.is_empty() {
                    if let Some(RsType::Struct(s) | RsType::Union(s)) = m
                        .get_type_id()
                        .and_then(|id| btf.resolve_type_by_id(id).ok())
                    {
                        if let Some(off) = find(btf, &s.members, field, base + m.bit_offset()) {
                            return Some(off);
                        }
                    }
                }
            }
            None
        }
        let btf = btf_rs::Btf::from_file(VMLINUX).expect("btf-rs");
        let types = btf.resolve_types_by_name(strukt).expect("struct");
        let s = types
            .iter()
            .find_map(|t| match t {
                RsType::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .expect("struct with members");
        find(&btf, &s.members, field, 0).expect("field") / 8
    }

    #[test]
    fn agrees_with_btf_rs() {
        let data = std::fs::read(VMLINUX).expect("read BTF");
        let btf = Btf::parse(&data).expect("parse");
        for (s, f) in [
            ("task_struct", "real_parent"),
            ("task_struct", "loginuid"),
            ("task_struct", "exit_code"),
            ("mm_struct", "arg_start"),
            ("mm_struct", "exe_file"),
            ("inode", "__i_nlink"),
            ("qstr", "len"),
            ("mount", "mnt"),
            ("linux_binprm", "filename"),
            ("task_struct", "group_leader"),
            ("task_struct", "start_boottime"),
            ("task_struct", "comm"),
            ("task_struct", "cgroups"),
            ("cred", "uid"),
            ("css_set", "dfl_cgrp"),
            ("cgroup", "kn"),
            ("kernfs_node", "name"),
            ("kernfs_node", "__parent"),
            ("file", "f_mode"),
        ] {
            assert_eq!(
                btf.offset(s, f).expect("offset"),
                reference(s, f),
                "{s}.{f}"
            );
        }
    }

    #[test]
    fn the_exec_buffer_holds_an_elf_key() {
        let data = std::fs::read(VMLINUX).expect("read BTF");
        let btf = Btf::parse(&data).expect("parse");
        assert_eq!(btf.array_len("linux_binprm", "buf").expect("buf"), 256);
        let facts = kernel_facts(Path::new(VMLINUX)).expect("BTF");
        assert_eq!(facts.bprm_buf, reference("linux_binprm", "buf"));
        assert_ne!(facts.bprm_buf, 0);
        assert!(btf.array_len("linux_binprm", "filename").is_err());
    }

    /// The state witness reads a dentry's head in one read: this kernel's
    /// layout must be the one it reads (6.18: d_parent at 24, d_name at 32,
    /// d_inode at 48, d_shortname at 56, d_op at 96), and another refused.
    #[test]
    fn this_kernel_s_dentry_head() {
        let data = std::fs::read(VMLINUX).expect("read BTF");
        let btf = Btf::parse(&data).expect("parse");
        let off = offsets(&btf).expect("offsets");
        check_dentry_head(&btf, &off).expect("the dentry head as read");
        assert_eq!(
            btf.offset("dentry", "d_shortname")
                .expect("6.18's inline name"),
            reference("dentry", "d_shortname")
        );
        assert_eq!(off.dentry_parent, reference("dentry", "d_parent"));
        let moved = KernelOffsets {
            dentry_name: off.dentry_name + 8,
            ..off
        };
        let err = check_dentry_head(&btf, &moved).unwrap_err();
        assert!(matches!(err, BtfError::DentryLayout(_)), "{err}");
        let moved = KernelOffsets {
            dentry_parent: off.dentry_parent + 8,
            dentry_name: off.dentry_name + 8,
            ..off
        };
        assert!(matches!(
            check_dentry_head(&btf, &moved),
            Err(BtfError::DentryLayout(_))
        ));
    }

    #[test]
    fn this_kernel_passes_group_dead() {
        assert!(
            kernel_facts(Path::new(VMLINUX))
                .expect("BTF")
                .exit_group_dead
        );
    }

    #[test]
    fn this_kernel_s_inode_dirty_bits() {
        let data = std::fs::read(VMLINUX).expect("kernel BTF");
        let btf = Btf::parse(&data).expect("parse");
        // 6.18's enum: I_NEW is bit 0 and the dirty bits follow.
        assert_eq!(btf.enum_value("I_DIRTY_SYNC"), Some(16));
        assert_eq!(btf.enum_value("I_DIRTY_PAGES"), Some(64));
        assert_eq!(btf.enum_value("NO_SUCH_CONSTANT_AT_ALL"), None);
    }

    #[test]
    fn missing_things_are_named() {
        let data = std::fs::read(VMLINUX).expect("read BTF");
        let btf = Btf::parse(&data).expect("parse");
        let err = btf.offset("task_struct", "no_such_field").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF has no field no_such_field in struct task_struct"
        );
        assert!(matches!(
            btf.offset("no_such_struct", "x"),
            Err(BtfError::NoStruct(_))
        ));
    }

    #[test]
    fn this_kernel_has_the_tracepoints_swmon_attaches_to() {
        let names = super::super::tracepoints();
        let missing = missing_tracepoints(Path::new(VMLINUX), &names).expect("read BTF");
        assert!(missing.is_empty(), "{missing:?}");
        let missing =
            missing_tracepoints(Path::new(VMLINUX), &["sched_process_exec", "no_such_tp"])
                .expect("read BTF");
        assert_eq!(missing, ["no_such_tp"]);
    }

    #[test]
    fn functions_are_found_by_name() {
        let path = Path::new(VMLINUX);
        let id = function_id(path, "security_bprm_check")
            .expect("read BTF")
            .expect("this kernel has security_bprm_check");
        let data = std::fs::read(VMLINUX).expect("read BTF");
        let btf = Btf::parse(&data).expect("parse");
        let t = btf.by_id(id).expect("type");
        assert_eq!(t.kind, KIND_FUNC);
        assert_eq!(btf.string(t.name_off), b"security_bprm_check");
        assert_eq!(
            function_id(path, "no_such_function_at_all").expect("read"),
            None
        );
    }

    #[test]
    fn broken_btf_is_an_error_not_a_panic() {
        assert!(matches!(Btf::parse(b""), Err(BtfError::Malformed(_))));
        assert!(matches!(
            Btf::parse(b"\x9f\xeb\x01\x00\x18\x00\x00\x00"),
            Err(BtfError::Malformed(_))
        ));
        let data = std::fs::read(VMLINUX).expect("read BTF");
        for cut in [30, 1000, data.len() / 2] {
            let _ = Btf::parse(&data[..cut]);
        }
    }
}
