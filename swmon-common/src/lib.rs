//! The kernel/user boundary: every struct and constant that swmon's eBPF
//! program and its user space must agree on, byte for byte.
//!
//! Everything here is `#[repr(C)]`, `Copy`, with explicit padding and no
//! `bool`, so the layout is the same under the BPF target and x86_64. The
//! `layout` tests pin each struct's size and field offsets: a change here
//! that moves a field fails them before it can corrupt a ring-buffer read.
//! This crate holds no logic; the filter lives in `swmon-ebpf`, decoding in
//! `swmon::ebpf`.

#![no_std]

#[cfg(test)]
extern crate std;

/// Bytes of argv copied from `mm->arg_start` for one exec (at least 4 KiB
/// and 128 arguments is the promise; 8 KiB keeps most real command lines whole).
pub const ARGV_MAX: usize = 8192;
/// Bytes of the exec'd filename as the tracepoint gives it.
pub const FILENAME_MAX: usize = 256;
/// Dentry components walked for the executable's path, one slot each.
pub const PATH_DEPTH: usize = 16;
/// Bytes of one path component's slot (with its NUL).
pub const PATH_COMPONENT: usize = 64;
/// Levels of the exec's cgroup captured, leaf first (`docker-ID.scope`,
/// `system.slice`): enough for kubepods' four and a few more.
pub const CGROUP_DEPTH: usize = 8;
/// Bytes of one cgroup name's slot (with its NUL): `cri-containerd-<64 hex>.scope`
/// is 85 bytes, a kubepods pod slice about 70.
pub const CGROUP_COMPONENT: usize = 128;
/// Processes above an installer captured at its exec, nearest first.
pub const ANCESTORS_MAX: usize = 8;
/// Bytes of an ancestor's executable name (its `mm->exe_file` dentry).
pub const ANCESTOR_NAME: usize = 64;
/// Bytes of a name in the installer-name trie (keys are
/// `{prefix_len: u32, data: [u8; NAME_MAX]}`, most significant byte first).
pub const NAME_MAX: usize = 32;

/// Bytes at the start of an exec'd file that make its [`ElfKey`]: the
/// 64-byte ELF64 header and the three program headers after it (56 bytes
/// each), all within the kernel's `bprm->buf` (`BINPRM_BUF_SIZE`, 256).
pub const ELF_KEY_LEN: usize = 64 + 3 * 56;
/// [`ELF_KEY_LEN`] in 8-byte words.
pub const ELF_KEY_WORDS: usize = ELF_KEY_LEN / 8;
const _: () = assert!(ELF_KEY_LEN <= 256 && ELF_KEY_LEN.is_multiple_of(8));

/// ELF program header types the key reads (`elf.h`).
pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;

#[cfg(target_endian = "big")]
compile_error!("the ELF key reads little-endian ELF64 headers as native words");

/// Brings the first [`ELF_KEY_LEN`] bytes of a file (as native-order
/// words, zero past its end) to its [`ElfKey`]: only what the kernel's
/// loader (`load_elf_binary`, fs/binfmt_elf.c) and glibc's `ld.so`
/// (`dl_main`, elf/rtld.c) need to run the program as it is, in a
/// canonical form, so that a copy patched where neither looks keeps its
/// key. The one definition the eBPF filter and user space both run.
///
/// ELF header, kept:
/// - the magic (0..4): the kernel refuses a file without it;
/// - `e_machine` (18..20): `elf_check_arch` wants `EM_X86_64`;
/// - `e_entry` (24..32): where the program starts (the kernel's entry for
///   a static binary, `AT_ENTRY` that `ld.so` jumps to);
/// - `e_phoff` (32..40): where the kernel reads the program headers
///   (`load_elf_phdrs`) and, from the segment holding them, `AT_PHDR`;
/// - `e_phentsize` (54..56): the kernel wants `sizeof(struct elf64_phdr)`.
///
/// Left out: `EI_CLASS`, `EI_DATA` and the rest of `e_ident`, which
/// binfmt_elf does not check for the program (a dpkg copy with either
/// zeroed runs); `e_type` (the kernel takes `ET_EXEC` or `ET_DYN`, and a
/// PIE marked `ET_EXEC` runs at its link addresses); `e_version`, `e_flags`,
/// `e_ehsize`; `e_phnum` (the headers past the first three are not in the
/// key, and dropping one the program can do without, `PT_GNU_RELRO`,
/// still runs); the section header fields (`strip`, `objcopy`).
///
/// Each of the first three program headers (56 bytes at 64, 120, 176; a
/// file whose `e_phoff` is not 64 has another key anyway), by `p_type`:
/// - `PT_LOAD`: the type, and the mapping the kernel makes of it
///   (`elf_load`: the file's pages from `p_offset - PAGEOFF(p_vaddr)` at
///   `PAGESTART(p_vaddr)` up to `PAGEALIGN(p_vaddr + p_filesz)`), as those
///   three page numbers: a file size changed within its last page, or an
///   offset and address moved together within their page, map the same;
///   `p_memsz` (the zeroed tail), flags, `p_paddr` and `p_align` left out;
/// - `PT_PHDR`: the type and `p_vaddr`, from which `ld.so` computes the
///   load bias (`l_addr = AT_PHDR - p_vaddr`); its offset and sizes are
///   read by neither (the kernel goes by `e_phoff`, `ld.so` by `AT_PHNUM`);
/// - `PT_INTERP`: the type and `p_vaddr` (`ld.so` names itself by the
///   string there); the kernel reads the loader's path at `p_offset` for
///   `p_filesz` bytes and opens it as a C string, so either can change
///   with the same path (a copy of it appended) and both are left out;
/// - any other type (`PT_NOTE`, `PT_GNU_STACK`, ... and `PT_NULL`): all
///   zero, type included (turning a note into `PT_NULL` runs the same).
#[inline(always)]
pub fn canonical_elf_key(w: &mut [u64; ELF_KEY_WORDS]) {
    // Little-endian words: byte i of a word is bits 8i..8i+8.
    w[0] &= 0xffff_ffff; // the magic
    w[1] = 0;
    w[2] &= 0xffff_0000; // e_machine
    w[5] = 0; // e_shoff
    w[6] &= 0xffff << 48; // e_phentsize
    w[7] = 0; // e_phnum, e_shentsize, e_shnum, e_shstrndx
    let mut h = 0;
    while h < 3 {
        let b = 8 + 7 * h;
        let p_type = w[b] as u32;
        let offset = w[b + 1];
        let vaddr = w[b + 2];
        let filesz = w[b + 4];
        w[b] = 0;
        w[b + 1] = 0;
        w[b + 2] = 0;
        w[b + 3] = 0;
        w[b + 4] = 0;
        w[b + 5] = 0;
        w[b + 6] = 0;
        if p_type == PT_LOAD {
            let in_page = vaddr & 0xfff;
            w[b] = PT_LOAD as u64;
            w[b + 1] = offset.wrapping_sub(in_page);
            w[b + 2] = vaddr & !0xfff;
            w[b + 4] = vaddr.wrapping_add(filesz).wrapping_add(0xfff) & !0xfff;
        } else if p_type == PT_PHDR || p_type == PT_INTERP {
            w[b] = p_type as u64;
            w[b + 2] = vaddr;
        }
        h += 1;
    }
}

/// Key of the near-copy map: the first [`ELF_KEY_LEN`] bytes of an ELF
/// file (zero past its end), as native-order words, brought to
/// [`canonical_elf_key`]'s form. Appending bytes to a binary, or patching
/// its code or data or a header field the loaders do not need, leaves it
/// unchanged.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ElfKey {
    pub words: [u64; ELF_KEY_WORDS],
}

/// Event kinds, the first `u32` of every ring-buffer record.
pub const EVENT_EXEC: u32 = 1;
pub const EVENT_EXIT: u32 = 2;
pub const EVENT_STATE: u32 = 3;

/// Why an exec passed the in-kernel filter (bits of [`ExecEvent::reasons`]).
pub mod reason {
    /// The basename of the filename passed to exec is an installer name.
    pub const FILENAME: u32 = 1 << 0;
    /// The name of the executed file itself (its dentry, after symlinks and
    /// for fexecve) is an installer name.
    pub const EXE_NAME: u32 = 1 << 1;
    /// The executed file's (device, inode) is an installer found on the host.
    pub const INODE: u32 = 1 << 2;
    /// An interpreter or loader whose argv names an installer.
    pub const INTERPRETER_ARG: u32 = 1 << 3;
    /// The executed file's size equals an installer's: a copy candidate that
    /// user space confirms by content.
    pub const SIZE: u32 = 1 << 4;
    /// The executed file has no link left (memfd, deleted): a candidate that
    /// user space identifies by content.
    pub const FILELESS: u32 = 1 << 5;
    /// An interpreter's short-option cluster has an installer module glued
    /// after its `m` (`-mpip`, `-Impip`): see [`crate::scan`].
    pub const ARG_MODULE: u32 = 1 << 6;
    /// A folder of a path in an interpreter's argv is an installer name
    /// (`node /usr/lib/node_modules/npm/lib/cli.js`).
    pub const ARG_FOLDER: u32 = 1 << 7;
    /// An argument of an interpreter holds one of [`crate::scan::CODE_NEEDLES`]
    /// (inline code: `-c 'import pip'`, `-e 'require("npm")'`).
    pub const ARG_CODE: u32 = 1 << 8;
    /// The interpreter's standard input (fd 0) is an installer's file on
    /// the host (`python3 - install x < /usr/bin/pip3`); `installer_id`
    /// names it.
    pub const STDIN: u32 = 1 << 9;
    /// Every bit the argv scan stage gives (an interpreter or the loader
    /// passed on what it runs, not on its own file).
    pub const INTERPRETER_SCAN: u32 = INTERPRETER_ARG
        | ARG_MODULE
        | ARG_FOLDER
        | ARG_CODE
        | STDIN
        | ARGV_UNSCANNED
        | LOADER_PROGRAM;
    /// The start of the executed file, masked to [`crate::ElfKey`], equals a
    /// binary installer's: a near-copy candidate (bytes appended or patched
    /// past the headers) that user space confirms by its build-id note.
    pub const NEAR_COPY: u32 = 1 << 10;
    /// Not an exec: the process read an installer's entry module (a file
    /// of [`crate::module::RULES`], by its dentry names), which only running
    /// that installer's code does (`python3 ./copy-of-pip3 install x`). The
    /// record's `installer_id` is then the rule's index, which user space
    /// turns into the catalogue's id; its `filename` is empty.
    pub const MODULE_LOAD: u32 = 1 << 11;
    /// An interpreter or the loader known by its (device, inode), not its
    /// name (a hard link under another name): it got the argv scan as the
    /// interpreter `interpreter_id` names. Set only beside a scan bit.
    pub const INTERPRETER_INODE: u32 = 1 << 12;
    /// An interpreter or the loader known by its [`crate::ElfKey`], not its
    /// name (a renamed copy, `cp /usr/bin/python3.11 /tmp/p`): it got the
    /// argv scan as `interpreter_id`; user space confirms it by the
    /// build-id note. Set only beside a scan bit.
    pub const INTERPRETER_ELF: u32 = 1 << 13;
    /// An interpreter or the loader whose argv is longer than the
    /// [`crate::ARGV_MAX`] bytes the kernel scans (or could not be read),
    /// with no installer in what was scanned: passed so user space reads it
    /// whole, never dropped unseen.
    pub const ARGV_UNSCANNED: u32 = 1 << 14;
    /// The loader exec'd explicitly (`ld-linux-x86-64.so.2 ./prog`) with
    /// no installer named in its argv: user space identifies the program
    /// it runs by its file (inode, content, ELF key and build ID), as a
    /// renamed installer copy run through the loader names nothing. Rare on
    /// a host (`ldd` does it).
    pub const LOADER_PROGRAM: u32 = 1 << 15;
    /// Each bit's name, as events show it (`swmon.filter`).
    pub const NAMES: [(u32, &str); 16] = [
        (FILENAME, "filename"),
        (EXE_NAME, "exe-name"),
        (INODE, "inode"),
        (INTERPRETER_ARG, "interpreter-arg"),
        (SIZE, "size"),
        (FILELESS, "fileless"),
        (ARG_MODULE, "interpreter-module"),
        (ARG_FOLDER, "interpreter-folder"),
        (ARG_CODE, "interpreter-code"),
        (STDIN, "interpreter-stdin"),
        (NEAR_COPY, "near-copy"),
        (MODULE_LOAD, "module-load"),
        (INTERPRETER_INODE, "interpreter-inode"),
        (INTERPRETER_ELF, "interpreter-elf"),
        (ARGV_UNSCANNED, "argv-unscanned"),
        (LOADER_PROGRAM, "loader-program"),
    ];
}

/// Bits of an `INODES` or `ELF_KEYS` value beside the catalogue id.
pub mod identity {
    /// The file is an interpreter's or the loader's, not an installer's:
    /// its exec gets the argv scan like the interpreter of that name, and
    /// never passes on this alone.
    pub const INTERPRETER: u16 = 1 << 15;
    /// With [`INTERPRETER`]: the dynamic loader.
    pub const LOADER: u16 = 1 << 14;
    /// The catalogue id in a value.
    pub const ID: u16 = !(INTERPRETER | LOADER);
}

/// Installer entry modules: files that an interpreter reads only when it
/// runs that installer's own code, matched in the kernel on the page
/// cache's read path by the read file's dentry names (the file's own name,
/// then its parent folders, nearest first). One table for the
/// kernel and user space: the kernel compares fixed 8- and 16-byte words
/// under masks (no loop over a name), user space runs [`Rule::matches`]
/// over whole paths in its tests.
///
/// A name match, not an identity: a file laid out like pip's by anyone
/// (`x/pip/_internal/cli/main.py`) is read as pip's code, which it then is
/// for whatever runs it.
pub mod module {
    /// Parent folders a rule may name.
    pub const PARENTS_MAX: usize = 4;
    /// Bytes of the file's own name a rule compares (a prefix, or a whole
    /// name of up to 15 bytes with its NUL): the kernel checks the first
    /// 8 on every read by an interpreter, the next 8 only on a hit.
    pub const LEAF_BYTES: usize = 16;
    /// Bytes of each parent folder's name read (names up to 15 bytes).
    pub const PARENT_BYTES: usize = 16;

    /// One entry module.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rule {
        /// The file's own name's first [`LEAF_BYTES`] bytes as two
        /// little-endian words, and which bytes count: a prefix (`main.`:
        /// `main.py`, `main.cpython-311.pyc`), or a whole name with its NUL
        /// (`cli.js`, `gem_runner.rb`).
        pub leaf_words: [u64; 2],
        pub leaf_masks: [u64; 2],
        /// Each parent's name and its NUL, as two little-endian words, and
        /// which bytes count; `parent_count` of them, nearest first.
        pub parent_words: [[u64; 2]; PARENTS_MAX],
        pub parent_masks: [[u64; 2]; PARENTS_MAX],
        pub parent_count: u32,
    }

    const fn words<const N: usize>(name: &[u8], with_nul: bool) -> ([u64; N], [u64; N]) {
        let mut w = [0u64; N];
        let mut m = [0u64; N];
        let n = if with_nul { name.len() + 1 } else { name.len() };
        assert!(n <= N * 8, "name too long for a module rule");
        let mut i = 0;
        while i < n {
            let b = if i < name.len() { name[i] } else { 0 };
            w[i / 8] |= (b as u64) << ((i % 8) * 8);
            m[i / 8] |= 0xff << ((i % 8) * 8);
            i += 1;
        }
        (w, m)
    }

    impl Rule {
        /// A rule: the file's name starts with `leaf` (or is `leaf` when
        /// `exact`), in folders `parents` (nearest first).
        pub const fn new(leaf: &str, exact: bool, parents: &[&str]) -> Rule {
            let (leaf_words, leaf_masks) = words::<2>(leaf.as_bytes(), exact);
            // The first word is the kernel's cheap test: it must hold a
            // byte of the name, or every read would go on to the rest.
            assert!(leaf_masks[0] != 0, "a module rule's name is empty");
            let mut parent_words = [[0u64; 2]; PARENTS_MAX];
            let mut parent_masks = [[0u64; 2]; PARENTS_MAX];
            assert!(parents.len() <= PARENTS_MAX);
            let mut i = 0;
            while i < parents.len() {
                let (w, m) = words::<2>(parents[i].as_bytes(), true);
                parent_words[i] = w;
                parent_masks[i] = m;
                i += 1;
            }
            Rule {
                leaf_words,
                leaf_masks,
                parent_words,
                parent_masks,
                parent_count: parents.len() as u32,
            }
        }

        /// The kernel's first check: the first 8 bytes of the file's name
        /// (read as one word; bytes past its NUL are whatever the dentry
        /// holds there and are masked off).
        #[inline(always)]
        pub const fn leaf_matches(&self, leaf: u64) -> bool {
            leaf & self.leaf_masks[0] == self.leaf_words[0]
        }

        /// The rest of the name's check: its bytes 8 to 15 (none count for
        /// a rule's name of 7 bytes or less).
        #[inline(always)]
        pub const fn leaf_tail_matches(&self, tail: u64) -> bool {
            tail & self.leaf_masks[1] == self.leaf_words[1]
        }

        /// Whether parent `i`'s first [`PARENT_BYTES`] bytes are the rule's.
        #[inline(always)]
        pub const fn parent_matches(&self, i: usize, name: [u64; 2]) -> bool {
            i < PARENTS_MAX
                && name[0] & self.parent_masks[i][0] == self.parent_words[i][0]
                && name[1] & self.parent_masks[i][1] == self.parent_words[i][1]
        }

        /// The rule over a whole path (user space, tests): its last
        /// component and the folders above it.
        pub fn matches(&self, path: &[u8]) -> bool {
            let mut parts = path.rsplit(|&c| c == b'/');
            let Some(leaf) = parts.next() else {
                return false;
            };
            let [lo, hi] = words16(leaf);
            if !self.leaf_matches(lo) || !self.leaf_tail_matches(hi) {
                return false;
            }
            let mut i = 0;
            while i < self.parent_count as usize {
                let Some(p) = parts.next() else {
                    return false;
                };
                // A name of 16 bytes or more has no NUL within the words.
                if p.len() >= PARENT_BYTES || !self.parent_matches(i, words16(p)) {
                    return false;
                }
                i += 1;
            }
            true
        }
    }

    /// The first 16 bytes of a name as the kernel reads them, as two
    /// little-endian words (NUL-padded here: the name and its NUL, as the
    /// dentry holds them).
    pub fn words16(name: &[u8]) -> [u64; 2] {
        let mut b = [0u8; 16];
        let n = name.len().min(16);
        b[..n].copy_from_slice(&name[..n]);
        let (lo, hi) = b.split_at(8);
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        };
        [word(lo), word(hi)]
    }

    /// Rules in the table.
    pub const COUNT: usize = 11;

    /// The entry modules, each the file an installer's own launcher loads
    /// to start its command line and nothing else loads (checked on this
    /// host with `strace -f -e trace=openat,open`): `python3 -m pip`,
    /// `/usr/bin/pip3` and a copy of it run as `python3 ./x` open
    /// `pip/_internal/cli/__pycache__/main.cpython-311.pyc`, or `main.py`
    /// without a valid cache; npm's `bin/npm-cli.js` opens `npm/lib/cli.js`;
    /// `gem` (Debian's `/usr/bin/gem` and `gem3.1`) requires
    /// `rubygems/gem_runner.rb`, which only the gem command loads (`ruby -e
    /// 'require "json"'` and bundler load `rubygems.rb` and its helpers,
    /// not the runner); `/usr/bin/pipx` runs `pipx.main`
    /// (`pipx/__pycache__/main.cpython-311.pyc`, or `main.py`); yarn 1's
    /// `bin/yarn.js` requires `yarn/lib/cli.js`, pnpm's `bin/pnpm.cjs`
    /// `pnpm/dist/pnpm.cjs` (npm's tarballs of yarn 1.22.22 and pnpm
    /// 9.15.9, in `node_modules/yarn` and `node_modules/pnpm` as `npm
    /// install -g` lays them out; corepack keeps them under a version
    /// folder, `.../corepack/v1/yarn/1.22.22/lib/cli.js`, which no rule
    /// names). RubyGems' installer, `rubygems/installer.rb`, is what every
    /// gem install loads, also one that never loads the runner (`ruby -e
    /// 'Gem.install("./x.gem")'`, `Gem::CommandManager.instance.run`,
    /// `Gem::Installer.at(f).install`); `gem list`, `gem env` and `ruby -e
    /// 'require "json"; Gem::Specification.to_a'` do not open it. pipx's
    /// `main` is looked for only as installed, in a `site-packages` or
    /// `dist-packages` folder (a user's own `proj/pipx/main.py` is not
    /// pipx), one rule per folder.
    pub const RULES: [Rule; COUNT] = [
        Rule::new("main.", false, &["__pycache__", "cli", "_internal", "pip"]),
        Rule::new("main.", false, &["cli", "_internal", "pip"]),
        Rule::new("cli.js", true, &["lib", "npm"]),
        Rule::new("gem_runner.rb", true, &["rubygems"]),
        Rule::new(
            "main.cpython-",
            false,
            &["__pycache__", "pipx", "dist-packages"],
        ),
        Rule::new("main.py", true, &["pipx", "dist-packages"]),
        Rule::new("cli.js", true, &["lib", "yarn"]),
        Rule::new("pnpm.cjs", true, &["dist", "pnpm"]),
        Rule::new("installer.rb", true, &["rubygems"]),
        Rule::new(
            "main.cpython-",
            false,
            &["__pycache__", "pipx", "site-packages"],
        ),
        Rule::new("main.py", true, &["pipx", "site-packages"]),
    ];

    /// The catalogue name of the installer whose code each rule's file is
    /// (kept apart from [`RULES`]: the kernel reads only numbers).
    pub const INSTALLERS: [&str; COUNT] = [
        "pip", "pip", "npm", "gem", "pipx", "pipx", "yarn", "pnpm", "gem", "pipx", "pipx",
    ];

    /// The index of the first rule `path` matches.
    pub fn find(path: &[u8]) -> Option<usize> {
        RULES.iter().position(|r| r.matches(path))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_entry_modules_match_and_their_neighbours_do_not() {
            for (path, want) in [
                (&b"/usr/lib/python3/dist-packages/pip/_internal/cli/__pycache__/main.cpython-311.pyc"[..], Some(0)),
                (b"/x/site-packages/pip/_internal/cli/main.py", Some(1)),
                (b"/usr/lib/node_modules/npm/lib/cli.js", Some(2)),
                (b"/usr/share/nodejs/npm/lib/cli.js", Some(2)),
                (b"/x/pip/_internal/cli/__pycache__/main_parser.cpython-311.pyc", None),
                (b"/x/pip/_internal/cli/main_parser.py", None),
                (b"/x/pipx/_internal/cli/main.py", None),
                (b"/x/pip/internal/cli/main.py", None),
                (b"/x/pip/_internal/commands/main.py", None),
                (b"/usr/lib/node_modules/npm/lib/cli.json", None),
                (b"/usr/lib/node_modules/npm/lib/cli/entry.js", None),
                (b"/usr/lib/node_modules/pnpm/lib/cli.js", None),
                (b"/x/lib/cli.js", None),
                (b"main.py", None),
                // gem: Debian's rubygems (ruby-rubygems), ruby3.1's own
                // copy, and a `gem update --system` one.
                (b"/usr/lib/ruby/vendor_ruby/rubygems/gem_runner.rb", Some(3)),
                (b"/usr/lib/ruby/3.1.0/rubygems/gem_runner.rb", Some(3)),
                (b"/usr/local/lib/site_ruby/3.1.0/rubygems/gem_runner.rb", Some(3)),
                // What every ruby program loads (`ruby -e 'require "json"'`
                // opens `rubygems.rb` and these), and the runner's
                // neighbours: none is the gem command.
                (b"/usr/lib/ruby/vendor_ruby/rubygems.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/specification.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/command_manager.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/core_ext/kernel_require.rb", None),
                (b"/usr/lib/ruby/3.1.0/json.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/gem_runner.rbx", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/gem_runner.r", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/gem_runner_x.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/gem_runn", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygem/gem_runner.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems2/gem_runner.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/gem_runner.rb", None),
                (b"gem_runner.rb", None),
                // RubyGems' installer, whoever loads it (Debian's copy and
                // ruby's own), and its neighbours.
                (b"/usr/lib/ruby/vendor_ruby/rubygems/installer.rb", Some(8)),
                (b"/usr/lib/ruby/vendor_ruby/3.1.0/rubygems/installer.rb", Some(8)),
                (b"/usr/lib/ruby/3.1.0/rubygems/installer.rb", Some(8)),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/installer_uninstaller_utils.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/uninstaller.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/installer.rbx", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/commands/install_command.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/rubygems/installer_test_case.rb", None),
                (b"/usr/lib/ruby/vendor_ruby/bundler/installer.rb", None),
                (b"/x/installer.rb", None),
                // pipx's own entry module, not its neighbours, nor pip's.
                (b"/usr/lib/python3/dist-packages/pipx/__pycache__/main.cpython-311.pyc", Some(4)),
                (b"/usr/lib/python3/dist-packages/pipx/main.py", Some(5)),
                (b"/usr/lib/python3/dist-packages/pipx/__pycache__/__main__.cpython-311.pyc", None),
                (b"/usr/lib/python3/dist-packages/pipx/__main__.py", None),
                (b"/usr/lib/python3/dist-packages/pipx/commands/__pycache__/install.cpython-311.pyc", None),
                (b"/usr/lib/python3/dist-packages/pipx/commands/main.py", None),
                (b"/x/dist-packages/pipx/__pycache__/main.cpython-312.pyc", Some(4)),
                (b"/x/dist-packages/pipx/__pycache__/main_x.pyc", None),
                (b"/x/dist-packages/pipx/__pycache__/main.pyc", None),
                (b"/x/dist-packages/pipx/main.pyx", None),
                (b"/x/dist-packages/pipx/main.py.bak", None),
                // pipx in a venv or a user's site-packages.
                (b"/root/.local/lib/python3.11/site-packages/pipx/main.py", Some(10)),
                (b"/v/lib/python3.11/site-packages/pipx/__pycache__/main.cpython-311.pyc", Some(9)),
                // A user's own folder called pipx is not pipx (the
                // reviewer's `proj2/pipx/main.py`), nor one in another
                // folder of packages.
                (b"/tmp/review-mod/proj2/pipx/main.py", None),
                (b"/tmp/proj2/pipx/__pycache__/main.cpython-311.pyc", None),
                (b"/x/site-packages2/pipx/main.py", None),
                (b"/x/packages/pipx/main.py", None),
                (b"pipx/main.py", None),
                (b"/x/site-packages/proj/pipx/main.py", None),
                (b"/usr/lib/python3/dist-packages/pipx2/main.py", None),
                (b"/usr/lib/python3/dist-packages/pip/main.py", None),
                // yarn 1 and pnpm as npm installs them, and their
                // neighbours (yarn's v8 cache, pnpm's worker, its launcher).
                (b"/usr/lib/node_modules/yarn/lib/cli.js", Some(6)),
                (b"/tmp/x/node_modules/yarn/lib/cli.js", Some(6)),
                (b"/usr/lib/node_modules/yarn/lib/v8-compile-cache.js", None),
                (b"/usr/lib/node_modules/yarn/bin/yarn.js", None),
                (b"/usr/lib/node_modules/yarnpkg/lib/cli.js", None),
                (b"/usr/lib/node_modules/pnpm/dist/pnpm.cjs", Some(7)),
                (b"/usr/lib/node_modules/pnpm/dist/pnpm.cjsx", None),
                (b"/usr/lib/node_modules/pnpm/dist/pnpm.cj", None),
                (b"/usr/lib/node_modules/pnpm/dist/worker.js", None),
                (b"/usr/lib/node_modules/pnpm/bin/pnpm.cjs", None),
                (b"/usr/lib/node_modules/@pnpm/dist/pnpm.cjs", None),
                (b"/root/.cache/node/corepack/v1/yarn/1.22.22/lib/cli.js", None),
            ] {
                assert_eq!(find(path), want, "{}", core::str::from_utf8(path).unwrap());
            }
        }

        #[test]
        fn a_long_parent_name_never_matches_a_short_rule() {
            assert_eq!(find(b"/x/pip/_internal/cli_and_a_long_tail/main.py"), None);
            assert_eq!(find(b"/x/pip/_internal/cliiiiiiiiiiiiiiii/main.py"), None);
        }

        #[test]
        fn every_rule_s_first_word_holds_part_of_its_name() {
            // The kernel's cheap check on every read by an interpreter is the first word: a
            // rule whose first word masked nothing would pass every read.
            for r in RULES {
                assert_ne!(r.leaf_masks[0], 0);
            }
            // A whole name of 15 bytes fits with its NUL; the tail word of
            // a short name counts no byte.
            assert_eq!(RULES[2].leaf_masks[1], 0);
            assert_eq!(RULES[3].leaf_masks[1], 0xffff_ffff_ffff);
        }
    }
}

/// Flags of [`ExecEvent::flags`].
/// The state witness: writes to package state (a manager's database, a
/// Python package's metadata folder, an npm package's `package.json`, a
/// file in a watched `PATH` folder), matched in the kernel on the page
/// cache's dirtying path by the written file's dentry names. One table for
/// the kernel and user space: the kernel compares the names' words under
/// masks, user space applies [`rule_of`] to the record's whole path again
/// and in its tests.
///
/// What a rule says is where the write went, not what changed: user space
/// reads the state itself afterwards (the dpkg status, the `METADATA`, the
/// `package.json`, the new file).
pub mod state {
    use crate::module::words16;

    /// The rules, the `rule` of a [`crate::StateEvent`].
    /// `dpkg/status-new`: dpkg rewrites its status file (then renames it).
    pub const DPKG_STATUS: u32 = 1;
    /// `dpkg/updates/NNNN`: dpkg's journal of package state changes.
    pub const DPKG_UPDATES: u32 = 2;
    /// A file in a `NAME-VERSION.dist-info` folder (a wheel's install).
    pub const DIST_INFO: u32 = 3;
    /// A file in a `NAME-VERSION.egg-info` folder (setuptools' install).
    pub const EGG_INFO: u32 = 4;
    /// `node_modules/NAME/package.json` or `node_modules/@SCOPE/NAME/package.json`.
    pub const NPM_PACKAGE: u32 = 5;
    /// `node_modules/.package-lock.json`: npm's record of a tree.
    pub const NPM_LOCK: u32 = 6;
    /// `.crates2.json`: cargo's record of `cargo install`.
    pub const CARGO: u32 = 7;
    /// `specifications/NAME-VERSION.gemspec`: RubyGems' record of a gem.
    pub const GEM_SPEC: u32 = 8;
    /// `rpm/rpmdb.sqlite*` or `rpm/Packages*`: rpm's database.
    pub const RPM_DB: u32 = 9;
    /// A file in a folder of the host's `PATH` that user space watches
    /// (by device and inode: the `WATCHED_DIRS` map).
    pub const PATH_DIR: u32 = 10;
    /// A file at the top of a `site-packages` or `dist-packages` folder
    /// (a module, a `.pth`, a distutils `.egg-info` file).
    pub const SITE_MODULE: u32 = 11;
    /// A file in a top-level folder of one (a package's code; not its
    /// `__pycache__`).
    pub const SITE_PACKAGE: u32 = 12;
    /// An attribute change (`chmod`, `chown`) of an executable in a
    /// watched `PATH` folder.
    pub const PATH_ATTR: u32 = 13;
    /// Each rule's name, as events show it.
    pub const NAMES: [(u32, &str); 13] = [
        (PATH_ATTR, "path-attr"),
        (SITE_MODULE, "site-module"),
        (SITE_PACKAGE, "site-package"),
        (DPKG_STATUS, "dpkg-status"),
        (DPKG_UPDATES, "dpkg-updates"),
        (DIST_INFO, "dist-info"),
        (EGG_INFO, "egg-info"),
        (NPM_PACKAGE, "npm-package"),
        (NPM_LOCK, "npm-lock"),
        (CARGO, "cargo-crates"),
        (GEM_SPEC, "gemspec"),
        (RPM_DB, "rpm-db"),
        (PATH_DIR, "path-dir"),
    ];

    /// A name as the kernel compares it: its first 16 bytes as two
    /// little-endian words and which of those bytes count.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Name {
        pub words: [u64; 2],
        pub masks: [u64; 2],
    }

    impl Name {
        /// The whole name `name` (at most 15 bytes; its NUL counts).
        pub const fn exact(name: &str) -> Name {
            Name::of(name.as_bytes(), true)
        }

        /// Names that start with `prefix` (at most 16 bytes).
        pub const fn prefix(prefix: &str) -> Name {
            Name::of(prefix.as_bytes(), false)
        }

        const fn of(name: &[u8], with_nul: bool) -> Name {
            let mut words = [0u64; 2];
            let mut masks = [0u64; 2];
            let n = if with_nul { name.len() + 1 } else { name.len() };
            assert!(n <= 16 && !name.is_empty(), "a state name is 1 to 15 bytes");
            let mut i = 0;
            while i < n {
                let b = if i < name.len() { name[i] } else { 0 };
                words[i / 8] |= (b as u64) << ((i % 8) * 8);
                masks[i / 8] |= 0xff << ((i % 8) * 8);
                i += 1;
            }
            Name { words, masks }
        }

        /// Whether a name's first 16 bytes (as the kernel reads them; bytes
        /// past its NUL are masked off or must be the NUL) are this one.
        #[inline(always)]
        pub const fn matches(&self, w: [u64; 2]) -> bool {
            w[0] & self.masks[0] == self.words[0] && w[1] & self.masks[1] == self.words[1]
        }
    }

    pub const STATUS_NEW: Name = Name::exact("status-new");
    pub const SITE_PACKAGES: Name = Name::exact("site-packages");
    pub const DIST_PACKAGES: Name = Name::exact("dist-packages");
    pub const PYCACHE: Name = Name::exact("__pycache__");

    /// Whether a folder's name is a Python import folder's.
    #[inline(always)]
    pub const fn is_site(w: [u64; 2]) -> bool {
        SITE_PACKAGES.matches(w) || DIST_PACKAGES.matches(w)
    }
    pub const DPKG: Name = Name::exact("dpkg");
    pub const UPDATES: Name = Name::exact("updates");
    pub const PACKAGE_JSON: Name = Name::exact("package.json");
    pub const NODE_MODULES: Name = Name::exact("node_modules");
    /// `.package-lock.json` is 18 bytes: its first 16.
    pub const PACKAGE_LOCK: Name = Name::prefix(".package-lock.js");
    pub const CRATES2: Name = Name::exact(".crates2.json");
    pub const SPECIFICATIONS: Name = Name::exact("specifications");
    pub const RPM: Name = Name::exact("rpm");
    pub const RPMDB: Name = Name::prefix("rpmdb.sqlite");
    pub const PACKAGES: Name = Name::prefix("Packages");
    /// Names of the folders that may be watched `PATH` folders: the kernel
    /// looks a folder's inode up only under one of these names, so a write
    /// elsewhere costs no map lookup. User space watches no other folder,
    /// and says so of those it leaves out.
    pub const PATH_NAMES: [Name; 2] = [Name::exact("bin"), Name::exact("sbin")];
    /// The last 8 bytes of `.dist-info` and `.egg-info` folders' names
    /// (`ist-info`, `egg-info`), as a little-endian word; and the bytes
    /// before them (`.d`, `.`).
    pub const DIST_TAIL: u64 = u64::from_le_bytes(*b"ist-info");
    pub const DIST_HEAD: u16 = u16::from_le_bytes(*b".d");
    pub const EGG_TAIL: u64 = u64::from_le_bytes(*b"egg-info");
    pub const EGG_HEAD: u8 = b'.';
    /// Bytes of a `.gemspec` name's end.
    pub const GEMSPEC_TAIL: u64 = u64::from_le_bytes(*b".gemspec");

    /// What the kernel knows of a written file's place: its own name, and
    /// its parent, grandparent and great-grandparent folders' names (first
    /// 16 bytes and length each, nearest first).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Place {
        pub leaf: [u64; 2],
        pub leaf_len: u32,
        /// The leaf's last 8 bytes (0 when it has fewer).
        pub leaf_tail: u64,
        pub parents: [[u64; 2]; 3],
        /// The parent's name's last 8 bytes, and the 2 before them.
        pub parent_tail: u64,
        pub parent_head: u16,
        pub parent_len: u32,
        /// How many of `parents` exist (a file at a filesystem's root has 0).
        pub depth: u32,
    }

    /// The rule a written file's place matches, by names alone (every rule
    /// but [`PATH_DIR`], which needs the folder's identity); 0 for none.
    /// The kernel runs this on every dirtied page's file; user space on
    /// the record's path again.
    #[inline(always)]
    pub const fn rule_of(p: &Place) -> u32 {
        // Python's state is in an import folder (`site-packages`,
        // `dist-packages`): the same names elsewhere are a build's output
        // or an unpacked source tree, which installs nothing.
        let in_site = p.depth >= 2 && is_site(p.parents[1]);
        if in_site && p.parent_len >= 10 && p.parent_tail == DIST_TAIL && p.parent_head == DIST_HEAD
        {
            return DIST_INFO;
        }
        if in_site
            && p.parent_len >= 10
            && p.parent_tail == EGG_TAIL
            && (p.parent_head >> 8) as u8 == EGG_HEAD
        {
            return EGG_INFO;
        }
        if p.depth >= 1 && is_site(p.parents[0]) {
            // A file at the top of an import folder: a module, a `.pth`
            // (run at every start), a distutils `.egg-info` file.
            return SITE_MODULE;
        }
        if in_site && !PYCACHE.matches(p.parents[0]) {
            // A file of a top-level package folder (the metadata folders
            // are matched above).
            return SITE_PACKAGE;
        }
        if p.depth >= 1 && DPKG.matches(p.parents[0]) && STATUS_NEW.matches(p.leaf) {
            return DPKG_STATUS;
        }
        if p.depth >= 2 && UPDATES.matches(p.parents[0]) && DPKG.matches(p.parents[1]) {
            return DPKG_UPDATES;
        }
        if PACKAGE_JSON.matches(p.leaf) {
            if p.depth >= 2 && NODE_MODULES.matches(p.parents[1]) {
                return NPM_PACKAGE;
            }
            if p.depth >= 3
                && (p.parents[1][0] & 0xff) == b'@' as u64
                && NODE_MODULES.matches(p.parents[2])
            {
                return NPM_PACKAGE;
            }
        }
        if p.depth >= 1 && NODE_MODULES.matches(p.parents[0]) && PACKAGE_LOCK.matches(p.leaf) {
            return NPM_LOCK;
        }
        if CRATES2.matches(p.leaf) {
            return CARGO;
        }
        if p.depth >= 1
            && SPECIFICATIONS.matches(p.parents[0])
            && p.leaf_len > 8
            && p.leaf_tail == GEMSPEC_TAIL
        {
            return GEM_SPEC;
        }
        if p.depth >= 1
            && RPM.matches(p.parents[0])
            && (RPMDB.matches(p.leaf) || PACKAGES.matches(p.leaf))
        {
            return RPM_DB;
        }
        0
    }

    /// Whether the file's parent folder has a name a watched `PATH` folder
    /// may have ([`PATH_NAMES`]).
    #[inline(always)]
    pub const fn may_be_path_dir(p: &Place) -> bool {
        p.depth >= 1 && (PATH_NAMES[0].matches(p.parents[0]) || PATH_NAMES[1].matches(p.parents[0]))
    }

    /// The last 8 bytes of a name as a little-endian word (0 when shorter).
    pub fn tail8(name: &[u8]) -> u64 {
        if name.len() < 8 {
            return 0;
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&name[name.len() - 8..]);
        u64::from_le_bytes(w)
    }

    /// A path's place, as the kernel would read it (user space, tests).
    pub fn place_of(path: &[u8]) -> Place {
        let mut parts = path.rsplit(|&c| c == b'/').filter(|c| !c.is_empty());
        let mut p = Place::default();
        let Some(leaf) = parts.next() else {
            return p;
        };
        p.leaf = words16(leaf);
        p.leaf_len = leaf.len() as u32;
        p.leaf_tail = tail8(leaf);
        let mut i = 0;
        for parent in parts.take(3) {
            p.parents[i] = words16(parent);
            if i == 0 {
                p.parent_len = parent.len() as u32;
                p.parent_tail = tail8(parent);
                if parent.len() >= 10 {
                    let h = &parent[parent.len() - 10..parent.len() - 8];
                    p.parent_head = u16::from_le_bytes([h[0], h[1]]);
                }
            }
            i += 1;
        }
        p.depth = i as u32;
        p
    }

    /// [`rule_of`] over a whole path (user space, tests).
    pub fn rule_of_path(path: &[u8]) -> u32 {
        rule_of(&place_of(path))
    }
}

pub mod flag {
    /// argv was longer than [`crate::ARGV_MAX`] and was cut.
    pub const ARGV_TRUNCATED: u32 = 1 << 0;
    /// The path walk stopped at [`crate::PATH_DEPTH`] components, or a
    /// component was longer than its slot.
    pub const PATH_TRUNCATED: u32 = 1 << 1;
    /// Reading argv from user memory failed (the pages were not resident).
    pub const ARGV_UNREADABLE: u32 = 1 << 2;
    /// The filename was longer than [`crate::FILENAME_MAX`].
    pub const FILENAME_TRUNCATED: u32 = 1 << 3;
    /// The working directory's walk stopped short, like `PATH_TRUNCATED`.
    pub const CWD_TRUNCATED: u32 = 1 << 4;
    /// The task's `fs` could not be read (an exiting or kernel task).
    pub const CWD_UNREADABLE: u32 = 1 << 5;
    /// A module-load record of a process forked from an interpreter that
    /// has not exec'd since (the witness's entry was inherited at the
    /// fork): its argv is the parent's command line, not what the child
    /// runs, so the installer's arguments are at best a guess.
    pub const FORKED: u32 = 1 << 6;
}

/// Flags of [`Capture::flags`].
pub mod capture_flag {
    /// The cgroup had more than [`crate::CGROUP_DEPTH`] levels (the top ones
    /// are missing) or a name was longer than its slot.
    pub const CGROUP_TRUNCATED: u32 = 1 << 0;
    /// The task's cgroup could not be read.
    pub const CGROUP_UNREADABLE: u32 = 1 << 1;
    /// The parent chain went on above [`crate::ANCESTORS_MAX`].
    pub const ANCESTORS_TRUNCATED: u32 = 1 << 2;
    /// The capture stages did not all run (set by the first, cleared by
    /// the last), its memory was missing, or it was another exec's: nothing
    /// in [`Capture`] is valid.
    pub const MISSING: u32 = 1 << 3;
    /// `cgroup` holds the names from the top down (`system.slice`,
    /// `docker-ID.scope`), read through `cgroup.ancestors`; without it
    /// they are leaf first.
    pub const CGROUP_TOP_DOWN: u32 = 1 << 4;
    /// The cgroup is deeper than [`crate::CGROUP_DEPTH`] and its leaf
    /// levels are missing: the top ones, which decide trust, are whole.
    pub const CGROUP_LEAF_CUT: u32 = 1 << 5;
}

/// What a trie entry names (the `kind` of [`NameValue`]).
pub mod name_kind {
    pub const INSTALLER: u8 = 1;
    /// Passes only when its argv names an installer.
    pub const INTERPRETER: u8 = 2;
    /// The dynamic loader: like an interpreter, its argv names the program.
    pub const LOADER: u8 = 3;
}

/// What may follow a trie prefix for the name to match (the `suffix` of
/// [`NameValue`]), and the rules that decide it: the one definition both
/// the kernel (one byte, [`next_allows`], [`arg_next_allows`]) and user
/// space (the whole rest, [`allows`]) use. Whatever [`allows`] accepts,
/// the kernel's one-byte checks pass (tested below and, for whole command
/// lines, in `swmon::ebpf::filter`).
pub mod suffix {
    /// Nothing: the name must match exactly.
    pub const EXACT: u8 = 0;
    /// A version: digits and dots, or a dash before a digit (`pip3.11`, `dnf-3`).
    pub const VERSION: u8 = 1;
    /// Anything (`ld-linux-x86-64.so.2`).
    pub const ANY: u8 = 2;

    /// The kernel's check of a file name: whether `next`, the byte after
    /// the matched name (0 at its end), may follow it.
    #[inline(always)]
    pub const fn next_allows(suffix: u8, next: u8) -> bool {
        match suffix {
            EXACT => next == 0,
            VERSION => next == 0 || next.is_ascii_digit() || next == b'.' || next == b'-',
            _ => true,
        }
    }

    /// The kernel's check of a name in an interpreter's argv: as
    /// [`next_allows`], a `.` after any name, for a module path
    /// (`-m dpkg.__main__`, `-m pip._internal`), whose top-level package
    /// names the installer, and an `@` after any name, for the manager
    /// corepack runs (`node corepack.js npx@10.2.0 x`, `yarn@1.22.19`).
    #[inline(always)]
    pub const fn arg_next_allows(suffix: u8, next: u8) -> bool {
        next_allows(suffix, next) || next == b'.' || next == b'@'
    }

    /// User space's whole rule: whether `rest`, everything after the
    /// matched name, is allowed.
    pub fn allows(suffix: u8, rest: &[u8]) -> bool {
        match suffix {
            EXACT => rest.is_empty(),
            VERSION => match rest {
                [] => true,
                [b'-', d, ..] if d.is_ascii_digit() => {
                    rest[1..].iter().all(|c| c.is_ascii_digit() || *c == b'.')
                }
                _ => {
                    rest[0].is_ascii_digit()
                        && rest.iter().all(|c| c.is_ascii_digit() || *c == b'.')
                }
            },
            _ => true,
        }
    }
}

/// The kernel's argv scan of an interpreter or loader exec, byte by byte,
/// as one state machine both sides run: the eBPF stage feeds it the
/// captured argv (up to [`ARGV_MAX`] bytes, through `bpf_loop`) and looks
/// each name it hands back up in the installer trie; user space's tests
/// feed it whole command lines and check that every one user space reads
/// as an installer run passes (the kernel may pass more; user space
/// applies the full rule and counts what it rejects).
///
/// For each argument (NUL-terminated) it hands back:
/// - each path segment (`a/b/c`: `a`, `b` as folders, [`reason::ARG_FOLDER`];
///   `c`, the base name, [`reason::INTERPRETER_ARG`]);
/// - in a short-option cluster (`-Impip`: one `-`, not `--`), what follows
///   its first `m` ([`reason::ARG_MODULE`]);
/// - whether the argument so far holds a [`CODE_NEEDLES`] word
///   ([`reason::ARG_CODE`]): inline code is not parsed in the kernel.
pub mod scan {
    use crate::reason;

    /// Words whose presence in an interpreter's argument passes the exec
    /// (inline code that may import or run an installer module). Every
    /// module or package user space accepts in inline code holds one
    /// (`pip`, `pip._internal`, `ensurepip`, `pipx`; `npm`, `pnpm`, `yarn`).
    pub const CODE_NEEDLES: [&[u8]; 3] = [b"pip", b"npm", b"yarn"];

    /// No `m` seen in the current short-option cluster.
    pub const NO_MODULE: u32 = u32::MAX;

    /// The scan's state between bytes (kept in the eBPF stage's per-CPU
    /// scratch, `#[repr(C)]`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ArgScan {
        /// Offset where the current path segment starts.
        pub segment: u32,
        /// Offset right after the first `m` of the current short-option
        /// cluster, or [`NO_MODULE`].
        pub module: u32,
        /// The argument's last four bytes, the latest in the low byte.
        pub window: u32,
        /// Bytes of the current argument seen, saturating at 2.
        pub pos: u32,
        /// 1 while the current argument is a short-option cluster.
        pub option: u32,
        pub _pad: u32,
    }

    /// A name to look up: `len` bytes at offset `at` of argv (`len` 0: none).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Name {
        pub at: u32,
        pub len: u32,
        /// The bit of [`reason`] a match gives.
        pub reason: u32,
    }

    impl Name {
        pub const NONE: Name = Name {
            at: 0,
            len: 0,
            reason: 0,
        };
    }

    /// What one byte gives.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Step {
        /// A path segment that ended here (at a `/` or the NUL).
        pub segment: Name,
        /// A glued module that ended here (at the NUL).
        pub module: Name,
        /// The argument holds a code needle, ending at this byte.
        pub code: bool,
    }

    /// Whether `window` (latest byte lowest) ends with a needle.
    #[inline(always)]
    pub const fn needle_at(window: u32) -> bool {
        let mut k = 0;
        while k < CODE_NEEDLES.len() {
            let n = CODE_NEEDLES[k];
            let mut packed = 0u32;
            let mut j = 0;
            while j < n.len() {
                packed = (packed << 8) | n[j] as u32;
                j += 1;
            }
            let mask = if n.len() >= 4 {
                u32::MAX
            } else {
                (1u32 << (8 * n.len())) - 1
            };
            if window & mask == packed {
                return true;
            }
            k += 1;
        }
        false
    }

    impl ArgScan {
        pub const START: ArgScan = ArgScan {
            segment: 0,
            module: NO_MODULE,
            window: 0,
            pos: 0,
            option: 0,
            _pad: 0,
        };

        /// Takes byte `c` at offset `i` of argv.
        #[inline(always)]
        pub fn step(&mut self, i: u32, c: u8) -> Step {
            let mut step = Step {
                segment: Name::NONE,
                module: Name::NONE,
                code: false,
            };
            if c == 0 {
                step.segment = Name {
                    at: self.segment,
                    len: i.wrapping_sub(self.segment),
                    reason: reason::INTERPRETER_ARG,
                };
                if self.option != 0 && self.module != NO_MODULE {
                    step.module = Name {
                        at: self.module,
                        len: i.wrapping_sub(self.module),
                        reason: reason::ARG_MODULE,
                    };
                }
                *self = ArgScan {
                    segment: i.wrapping_add(1),
                    ..ArgScan::START
                };
                return step;
            }
            if c == b'/' {
                step.segment = Name {
                    at: self.segment,
                    len: i.wrapping_sub(self.segment),
                    reason: reason::ARG_FOLDER,
                };
                self.segment = i.wrapping_add(1);
            }
            match self.pos {
                0 => self.option = (c == b'-') as u32,
                1 if c == b'-' => self.option = 0,
                _ => {}
            }
            if self.option != 0 && self.pos >= 1 && self.module == NO_MODULE && c == b'm' {
                self.module = i.wrapping_add(1);
            }
            if self.pos < 2 {
                self.pos += 1;
            }
            self.window = (self.window << 8) | c as u32;
            step.code = needle_at(self.window);
            step
        }
    }

    #[cfg(test)]
    mod tests {
        use std::{vec, vec::Vec};

        use super::*;

        fn names(argv: &[u8]) -> (Vec<(Vec<u8>, u32)>, bool) {
            let mut s = ArgScan::START;
            let mut out = std::vec::Vec::new();
            let mut code = false;
            for (i, &c) in argv.iter().enumerate() {
                let st = s.step(i as u32, c);
                code |= st.code;
                for n in [st.segment, st.module] {
                    if n.len > 0 {
                        let at = n.at as usize;
                        out.push((argv[at..at + n.len as usize].to_vec(), n.reason));
                    }
                }
            }
            (out, code)
        }

        #[test]
        fn segments_modules_and_needles() {
            let (n, code) = names(b"python3\0-Impip\0/usr/lib/node_modules/npm/x.js\0");
            assert!(code);
            assert_eq!(
                n,
                vec![
                    (b"python3".to_vec(), reason::INTERPRETER_ARG),
                    (b"-Impip".to_vec(), reason::INTERPRETER_ARG),
                    (b"pip".to_vec(), reason::ARG_MODULE),
                    (b"usr".to_vec(), reason::ARG_FOLDER),
                    (b"lib".to_vec(), reason::ARG_FOLDER),
                    (b"node_modules".to_vec(), reason::ARG_FOLDER),
                    (b"npm".to_vec(), reason::ARG_FOLDER),
                    (b"x.js".to_vec(), reason::INTERPRETER_ARG),
                ]
            );
            // `--mpip` is a long option; a value that is no option has no module.
            let (n, code) = names(b"--mpip\0xmpip\0-c\0pass\0");
            assert!(!n.iter().any(|(_, r)| *r == reason::ARG_MODULE), "{n:?}");
            assert!(code, "the words themselves hold pip");
            assert!(!names(b"python3\0-c\0pass\0").1);
            assert!(names(b"-e\0require('yarn')\0").1);
        }
    }
}

/// Indices of the per-CPU counter array.
pub mod counter {
    /// Every exec the program saw.
    pub const SEEN: u32 = 0;
    /// Execs sent to user space.
    pub const PASSED: u32 = 1;
    /// Exec events lost because the ring buffer was full.
    pub const EXEC_RESERVE_FAILED: u32 = 2;
    /// Exit events lost because the ring buffer was full.
    pub const EXIT_RESERVE_FAILED: u32 = 3;
    /// Interpreter execs whose argv named no installer (dropped in the kernel).
    pub const INTERPRETER_DROPPED: u32 = 4;
    /// Installer pids that could not be tracked for their exit (map full).
    pub const TRACK_FAILED: u32 = 5;
    /// Exit events sent.
    pub const EXITS: u32 = 6;
    /// Tail calls into a later stage that failed (the exec is lost).
    pub const STAGE_FAILED: u32 = 7;
    /// `--ebpf-log` records the programs wrote or tried to write (counted
    /// after each log call, so a record counted here is in the log ring
    /// unless it was full): user space compares it with what it read.
    pub const LOG_RECORDS: u32 = 8;
    /// Reads of an exec's argv from user memory that failed (the filter's
    /// copy for the scan, the emitter's for the event).
    pub const ARGV_UNREADABLE: u32 = 9;
    /// Dirtied pages of files that matched a [`crate::state`] rule, those
    /// not sent again (the same unit and writer within two seconds)
    /// included.
    pub const STATE_MATCHED: u32 = 10;
    /// State-write records sent to user space.
    pub const STATE_SENT: u32 = 11;
    /// State-write records lost because the ring buffer was full.
    pub const STATE_RESERVE_FAILED: u32 = 12;
    pub const COUNT: u32 = 13;
}

/// Value of the installer-name trie.
///
/// The kernel checks only the one byte after the matched prefix against
/// `suffix` (cheap, loop-free); user space applies the full rule again and
/// counts what it rejects.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameValue {
    /// Index of the entry in swmon's installer catalogue.
    pub id: u16,
    /// One of [`name_kind`].
    pub kind: u8,
    /// One of [`suffix`].
    pub suffix: u8,
    /// Length of the stored name in bytes.
    pub len: u8,
    pub _pad: [u8; 3],
}

/// The head of a kernel `struct dentry` from its `d_parent` on, as the
/// state witness reads it in one probe read: the parent, the name
/// (`d_name`: hash and length, then the pointer), the inode and the first
/// 16 bytes of the inline name (`d_iname`; `d_shortname` in newer
/// kernels, this 6.18 among them), which `d_name.name` points at when the
/// name is short enough to be kept in the dentry. User space checks the
/// running kernel's layout against these offsets in BTF before loading,
/// and refuses to load otherwise.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DentryHead {
    pub parent: u64,
    /// `qstr.hash_len`: the hash in the low 32 bits, the length above.
    pub hash_len: u64,
    pub name: u64,
    pub inode: u64,
    pub inline: [u64; 2],
}

impl DentryHead {
    /// Offsets from `d_parent` of `d_name`, `d_inode` and the inline name.
    pub const NAME: u32 = 8;
    pub const INODE: u32 = 24;
    pub const INLINE: u32 = 32;
}

/// Key of the (device, inode) map: the kernel's `s_dev` encoding
/// (`major << 20 | minor`) and the inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InodeKey {
    pub dev: u32,
    pub _pad: u32,
    pub ino: u64,
}

/// Offsets of kernel struct fields, read from BTF by user space at start,
/// since rustc emits no CO-RE relocations. A zero offset that should not be
/// zero means the loader did not fill it; user space refuses to load then.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_real_parent: u32,
    pub task_tgid: u32,
    pub task_mm: u32,
    pub task_loginuid: u32,
    pub task_sessionid: u32,
    pub task_cred: u32,
    pub task_exit_code: u32,
    pub cred_euid: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub mm_exe_file: u32,
    pub file_path: u32,
    pub file_inode: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub inode_size: u32,
    pub inode_nlink: u32,
    pub sb_dev: u32,
    pub dentry_name: u32,
    pub dentry_parent: u32,
    pub qstr_len: u32,
    pub qstr_name: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
    pub mount_mnt: u32,
    pub vfsmount_root: u32,
    pub bprm_filename: u32,
    pub task_fs: u32,
    pub fs_pwd: u32,
    pub _pad: u32,
}

impl KernelOffsets {
    /// All offsets unset; the loader replaces this before the program runs.
    pub const UNSET: KernelOffsets = KernelOffsets {
        task_real_parent: 0,
        task_tgid: 0,
        task_mm: 0,
        task_loginuid: 0,
        task_sessionid: 0,
        task_cred: 0,
        task_exit_code: 0,
        cred_euid: 0,
        mm_arg_start: 0,
        mm_arg_end: 0,
        mm_exe_file: 0,
        file_path: 0,
        file_inode: 0,
        path_mnt: 0,
        path_dentry: 0,
        inode_ino: 0,
        inode_sb: 0,
        inode_size: 0,
        inode_nlink: 0,
        sb_dev: 0,
        dentry_name: 0,
        dentry_parent: 0,
        qstr_len: 0,
        qstr_name: 0,
        mount_parent: 0,
        mount_mountpoint: 0,
        mount_mnt: 0,
        vfsmount_root: 0,
        bprm_filename: 0,
        task_fs: 0,
        fs_pwd: 0,
        _pad: 0,
    };
}

/// Offsets only the argv scan stage and the module-load witness use: the
/// task's fd 0, for an interpreter reading its program from standard
/// input (`python3 - < /usr/bin/pip3`); and, for the witness, the path from
/// a read's `address_space` to a name of its file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanOffsets {
    /// `task_struct.files`.
    pub task_files: u32,
    /// `files_struct.fdt`.
    pub files_fdt: u32,
    /// `fdtable.fd`.
    pub fdtable_fd: u32,
    /// `address_space.host`: the file's inode.
    pub mapping_host: u32,
    /// `inode.i_dentry`: the list of the inode's dentries.
    pub inode_dentry: u32,
    /// `dentry.d_u`: the union whose `d_alias` links a dentry into that
    /// list (its first member, at the union's offset).
    pub dentry_alias: u32,
    /// `inode.i_mode` (a `u16`): the state witness looks at regular files
    /// only.
    pub inode_mode: u32,
    /// `dentry.d_inode`: a folder's inode, for the watched folders.
    pub dentry_inode: u32,
}

impl ScanOffsets {
    /// All offsets unset; the loader replaces this before the program runs.
    pub const UNSET: ScanOffsets = ScanOffsets {
        task_files: 0,
        files_fdt: 0,
        fdtable_fd: 0,
        mapping_host: 0,
        inode_dentry: 0,
        dentry_alias: 0,
        inode_mode: 0,
        dentry_inode: 0,
    };
}

/// Offsets only the capture stages use (the cgroup and the parent chain),
/// kept apart from [`KernelOffsets`] so that the filter, which runs on
/// every exec, loads no more than it did before them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureOffsets {
    pub task_group_leader: u32,
    pub task_start_boottime: u32,
    pub task_comm: u32,
    pub task_cgroups: u32,
    pub cred_uid: u32,
    pub css_set_dfl_cgrp: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_name: u32,
    pub kernfs_node_parent: u32,
    /// `cgroup.level` (the root is 0).
    pub cgroup_level: u32,
    /// `cgroup.ancestors` (6.1+: the cgroups from the root down to this
    /// one, indexed by level); 0 when the kernel has none, and then the
    /// names are walked from the leaf up.
    pub cgroup_ancestors: u32,
}

impl CaptureOffsets {
    /// All offsets unset; the loader replaces this before the program runs.
    pub const UNSET: CaptureOffsets = CaptureOffsets {
        task_group_leader: 0,
        task_start_boottime: 0,
        task_comm: 0,
        task_cgroups: 0,
        cred_uid: 0,
        css_set_dfl_cgrp: 0,
        cgroup_kn: 0,
        kernfs_node_name: 0,
        kernfs_node_parent: 0,
        cgroup_level: 0,
        cgroup_ancestors: 0,
    };
}

/// One process above an installer, as the kernel saw it at the exec.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AncestorEvent {
    /// The process id (`tgid`) in the initial pid namespace.
    pub tgid: u32,
    /// The real uid.
    pub uid: u32,
    /// `task_struct.start_boottime` of the thread-group leader (ns since
    /// boot): with the pid, it names one process even after pid reuse.
    pub start_ns: u64,
    pub comm: [u8; 16],
    /// The base name of the executable (`mm->exe_file`'s dentry); empty for
    /// a kernel thread.
    pub exe: [u8; ANCESTOR_NAME],
}

/// Where an exec ran and who ran it, captured by the kernel at the exec
/// (only for execs that passed the filter), so that a short run whose
/// parents have exited before user space looks keeps both.
///
/// `cgroup` holds the default hierarchy's kernfs names, from the top down
/// (`system.slice`, `docker-ID.scope`) when [`capture_flag::CGROUP_TOP_DOWN`]
/// is set, else from the task's cgroup up; the root's empty name is not
/// written. `ancestors` holds the parent, its parent, and
/// so on, up to init (pid 1, included) or [`ANCESTORS_MAX`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Capture {
    /// Slots of `cgroup` in use.
    pub cgroup_depth: u32,
    /// Entries of `ancestors` in use.
    pub ancestor_count: u32,
    /// Bits of [`capture_flag`].
    pub flags: u32,
    pub _pad: u32,
    /// `bpf_get_current_pid_tgid()` of the exec the stages captured: the
    /// emitter and the decoder take the capture only when it is the
    /// event's own (`tgid << 32 | pid`), never a stale one of another exec.
    pub pid_tgid: u64,
    /// `start_boottime` of the exec'ing task itself (ns since boot; 0 when
    /// it could not be read), written by the emitter whether or not the
    /// rest is valid: every later `/proc` read of the installer is bound
    /// to it, so a reused pid never lends another process's data.
    pub start_ns: u64,
    pub cgroup: [[u8; CGROUP_COMPONENT]; CGROUP_DEPTH],
    pub ancestors: [AncestorEvent; ANCESTORS_MAX],
}

/// One exec that passed the filter, as written to the ring buffer.
///
/// `path` holds the executable's dentry names from the file up to the root,
/// one per slot (`dpkg`, `bin`, `usr`); an empty slot is a crossed mount
/// point. User space reverses them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    /// [`EVENT_EXEC`].
    pub kind: u32,
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    /// Bits of [`reason`].
    pub reasons: u32,
    /// Bits of [`flag`].
    pub flags: u32,
    /// Catalogue index of the installer the filter matched, or `u16::MAX`.
    pub installer_id: u16,
    /// Catalogue index of the interpreter or loader, or `u16::MAX`.
    pub interpreter_id: u16,
    pub dev: u32,
    pub nlink: u32,
    pub ino: u64,
    pub size: u64,
    pub cgroup_id: u64,
    /// `bpf_ktime_get_boot_ns` at the exec.
    pub boot_ns: u64,
    /// Bytes of argv copied into `argv`.
    pub argv_len: u32,
    /// Bytes of argv the process really has (`arg_end - arg_start`).
    pub argv_total: u32,
    /// Slots of `path` and of `cwd` in use.
    pub path_depth: u32,
    pub cwd_depth: u32,
    /// Bytes of `filename` before its NUL.
    pub filename_len: u32,
    pub _pad: u32,
    pub comm: [u8; 16],
    pub filename: [u8; FILENAME_MAX],
    pub path: [[u8; PATH_COMPONENT]; PATH_DEPTH],
    /// The working directory at the exec, like `path`.
    pub cwd: [[u8; PATH_COMPONENT]; PATH_DEPTH],
    /// The cgroup and the parent chain at the exec.
    pub capture: Capture,
    pub argv: [u8; ARGV_MAX],
}

/// The exit of a process whose exec passed the filter.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    /// [`EVENT_EXIT`].
    pub kind: u32,
    pub tgid: u32,
    pub pid: u32,
    /// `task_struct.exit_code`: the wait status (`code << 8`, or the signal).
    pub exit_code: u32,
    pub boot_ns: u64,
}

/// A write to package state that matched a [`state`] rule, as written to
/// the ring buffer: the file, and the process that wrote it, read at the
/// write (the writer may be gone before user space looks).
///
/// `path` holds the file's dentry names from the file up to its
/// filesystem's root, one per slot, like [`ExecEvent::path`] (no mount is
/// crossed: the page cache does not know by which mount the file was
/// opened; user space places the filesystem by `dev`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StateEvent {
    /// [`EVENT_STATE`].
    pub kind: u32,
    /// One of the [`state`] rules.
    pub rule: u32,
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    /// The file's `s_dev` (`major << 20 | minor`) and mode.
    pub dev: u32,
    pub ino: u64,
    pub mode: u32,
    /// Slots of `path` in use.
    pub path_depth: u32,
    pub cgroup_id: u64,
    /// `bpf_ktime_get_boot_ns` at the write.
    pub boot_ns: u64,
    /// `start_boottime` of the writer's thread-group leader.
    pub start_ns: u64,
    /// Bits of [`flag`] (`PATH_TRUNCATED`).
    pub flags: u32,
    /// Entries of `ancestors` in use.
    pub ancestor_count: u32,
    pub comm: [u8; 16],
    /// Slots of `exe` in use.
    pub exe_depth: u32,
    pub _pad: u32,
    /// The writer's executable, like [`ExecEvent::path`] (mounts crossed).
    pub exe: [[u8; PATH_COMPONENT]; PATH_DEPTH],
    pub path: [[u8; PATH_COMPONENT]; PATH_DEPTH],
    /// The writer's parent, its parent, and so on, like
    /// [`Capture::ancestors`].
    pub ancestors: [AncestorEvent; ANCESTORS_MAX],
}

/// Key of the state witness's once-per-writer map: the matched unit (the
/// file's inode, or for a folder rule the folder's dentry), its name's
/// hash, and the writer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateKey {
    pub unit: u64,
    pub tgid: u32,
    pub hash: u32,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type is repr(C), Copy, and made of integers and integer
    // arrays with explicit padding, so any bit pattern is a valid value.
    unsafe impl aya::Pod for super::NameValue {}
    unsafe impl aya::Pod for super::InodeKey {}
    unsafe impl aya::Pod for super::StateKey {}
    unsafe impl aya::Pod for super::ElfKey {}
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::CaptureOffsets {}
    unsafe impl aya::Pod for super::ScanOffsets {}
}

#[cfg(test)]
mod elf_key {
    use super::*;

    /// The start of `/usr/bin/dpkg` on Debian 12 (x86_64 PIE): header,
    /// then PT_PHDR, PT_INTERP and the first PT_LOAD.
    fn dpkg() -> [u8; ELF_KEY_LEN] {
        let mut b = [0u8; ELF_KEY_LEN];
        b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        b[16] = 3; // ET_DYN
        b[18] = 0x3e; // EM_X86_64
        b[20] = 1;
        b[24..32].copy_from_slice(&0x7cd0u64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[40..48].copy_from_slice(&0x5b9c8u64.to_le_bytes());
        b[52] = 64;
        b[54] = 56;
        b[56] = 13;
        b[58] = 64;
        b[60] = 30;
        b[62] = 29;
        let ph = |b: &mut [u8; ELF_KEY_LEN], at: usize, t: u32, off: u64, va: u64, sz: u64| {
            b[at..at + 4].copy_from_slice(&t.to_le_bytes());
            b[at + 4] = 4;
            b[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&va.to_le_bytes());
            b[at + 24..at + 32].copy_from_slice(&va.to_le_bytes());
            b[at + 32..at + 40].copy_from_slice(&sz.to_le_bytes());
            b[at + 40..at + 48].copy_from_slice(&sz.to_le_bytes());
            b[at + 48] = 8;
        };
        ph(&mut b, 64, PT_PHDR, 0x40, 0x40, 0x2d8);
        ph(&mut b, 120, PT_INTERP, 0x318, 0x318, 0x1c);
        ph(&mut b, 176, PT_LOAD, 0, 0, 0x61f0);
        b
    }

    fn key(b: &[u8; ELF_KEY_LEN]) -> ElfKey {
        let mut words = [0u64; ELF_KEY_WORDS];
        for (i, w) in words.iter_mut().enumerate() {
            *w = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        }
        canonical_elf_key(&mut words);
        ElfKey { words }
    }

    fn patched(at: usize, bytes: &[u8]) -> ElfKey {
        let mut b = dpkg();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        key(&b)
    }

    /// What the loaders ignore (each patch shown to run on a dpkg copy)
    /// keeps the key; what places the program changes it.
    #[test]
    fn only_what_the_loaders_use_counts() {
        let k = key(&dpkg());
        let same: &[(&str, usize, &[u8])] = &[
            ("EI_CLASS", 4, &[0]),
            ("EI_DATA", 5, &[0]),
            ("EI_OSABI", 7, &[3]),
            ("e_type ET_EXEC", 16, &[2]),
            ("e_version", 20, &[0]),
            ("e_shoff", 40, &[0]),
            ("e_flags", 48, &[1]),
            ("e_phnum (GNU_RELRO dropped)", 56, &[12]),
            ("e_shnum", 60, &[0]),
            ("PT_PHDR p_flags", 68, &[7]),
            ("PT_PHDR p_offset", 72, &[0x99]),
            ("PT_PHDR p_filesz", 96, &[0x10]),
            ("PT_PHDR p_memsz", 104, &[0x10]),
            ("PT_INTERP p_offset", 128, &[0x40, 0x20]),
            ("PT_INTERP p_filesz", 152, &[0x20]),
            ("PT_LOAD p_paddr", 200, &[1]),
            ("PT_LOAD p_filesz within its page", 208, &[0xff, 0x6f]),
            ("PT_LOAD p_memsz", 216, &[0]),
            ("PT_LOAD p_align", 224, &[0, 0x20]),
        ];
        for (what, at, bytes) in same {
            assert_eq!(patched(*at, bytes), k, "{what}");
        }
        let other: &[(&str, usize, &[u8])] = &[
            ("magic", 1, b"X"),
            ("e_machine", 18, &[3]),
            ("e_entry", 24, &[0xd4]),
            ("e_phoff", 32, &[0x48]),
            ("e_phentsize", 54, &[32]),
            ("PT_PHDR p_vaddr", 80, &[0x48]),
            ("PT_PHDR made PT_NULL", 64, &[0]),
            ("PT_INTERP p_vaddr", 136, &[0x10]),
            ("PT_LOAD p_offset", 184, &[0, 0x10]),
            ("PT_LOAD p_vaddr", 192, &[0, 0x10]),
            ("PT_LOAD p_filesz past its page", 208, &[0x01, 0x70]),
        ];
        for (what, at, bytes) in other {
            assert_ne!(patched(*at, bytes), k, "{what}");
        }
        // A note in the first three: zero whatever its type.
        let mut b = dpkg();
        b[120] = 4; // PT_NOTE
        let note = key(&b);
        b[120] = 0; // PT_NULL
        b[136] = 0x77;
        assert_eq!(key(&b), note);
    }
}

#[cfg(test)]
mod layout {
    use core::mem::{offset_of, size_of};

    use super::*;

    /// The offsets user space checks against the kernel's BTF are where
    /// the struct the kernel reads into has the fields.
    #[test]
    fn dentry_head() {
        assert_eq!(offset_of!(DentryHead, hash_len) as u32, DentryHead::NAME);
        assert_eq!(offset_of!(DentryHead, name) as u32, DentryHead::NAME + 8);
        assert_eq!(offset_of!(DentryHead, inode) as u32, DentryHead::INODE);
        assert_eq!(offset_of!(DentryHead, inline) as u32, DentryHead::INLINE);
        assert_eq!(size_of::<DentryHead>(), 48);
    }

    #[test]
    fn exec_event() {
        assert_eq!(offset_of!(ExecEvent, kind), 0);
        assert_eq!(offset_of!(ExecEvent, tgid), 4);
        assert_eq!(offset_of!(ExecEvent, reasons), 36);
        assert_eq!(offset_of!(ExecEvent, installer_id), 44);
        assert_eq!(offset_of!(ExecEvent, interpreter_id), 46);
        assert_eq!(offset_of!(ExecEvent, dev), 48);
        assert_eq!(offset_of!(ExecEvent, ino), 56);
        assert_eq!(offset_of!(ExecEvent, size), 64);
        assert_eq!(offset_of!(ExecEvent, cgroup_id), 72);
        assert_eq!(offset_of!(ExecEvent, boot_ns), 80);
        assert_eq!(offset_of!(ExecEvent, argv_len), 88);
        assert_eq!(offset_of!(ExecEvent, filename_len), 104);
        assert_eq!(offset_of!(ExecEvent, comm), 112);
        assert_eq!(offset_of!(ExecEvent, filename), 128);
        assert_eq!(offset_of!(ExecEvent, path), 128 + FILENAME_MAX);
        let path = PATH_DEPTH * PATH_COMPONENT;
        assert_eq!(offset_of!(ExecEvent, cwd), 128 + FILENAME_MAX + path);
        let capture = 128 + FILENAME_MAX + 2 * path;
        assert_eq!(offset_of!(ExecEvent, capture), capture);
        assert_eq!(capture % 8, 0, "the capture is copied as one block");
        assert_eq!(offset_of!(ExecEvent, argv), capture + size_of::<Capture>());
        assert_eq!(
            size_of::<ExecEvent>(),
            capture + size_of::<Capture>() + ARGV_MAX
        );
    }

    #[test]
    fn capture() {
        assert_eq!(offset_of!(AncestorEvent, uid), 4);
        assert_eq!(offset_of!(AncestorEvent, start_ns), 8);
        assert_eq!(offset_of!(AncestorEvent, comm), 16);
        assert_eq!(offset_of!(AncestorEvent, exe), 32);
        assert_eq!(size_of::<AncestorEvent>(), 32 + ANCESTOR_NAME);
        assert_eq!(offset_of!(Capture, flags), 8);
        assert_eq!(offset_of!(Capture, pid_tgid), 16);
        assert_eq!(offset_of!(Capture, start_ns), 24);
        assert_eq!(offset_of!(Capture, cgroup), 32);
        let cgroup = CGROUP_DEPTH * CGROUP_COMPONENT;
        assert_eq!(offset_of!(Capture, ancestors), 32 + cgroup);
        assert_eq!(
            size_of::<Capture>(),
            32 + cgroup + ANCESTORS_MAX * size_of::<AncestorEvent>()
        );
    }

    #[test]
    fn state_event() {
        assert_eq!(offset_of!(StateEvent, rule), 4);
        assert_eq!(offset_of!(StateEvent, dev), 36);
        assert_eq!(offset_of!(StateEvent, ino), 40);
        assert_eq!(offset_of!(StateEvent, cgroup_id), 56);
        assert_eq!(offset_of!(StateEvent, start_ns), 72);
        assert_eq!(offset_of!(StateEvent, comm), 88);
        assert_eq!(offset_of!(StateEvent, exe_depth), 104);
        assert_eq!(offset_of!(StateEvent, exe), 112);
        let path = PATH_DEPTH * PATH_COMPONENT;
        assert_eq!(offset_of!(StateEvent, path), 112 + path);
        let ancestors = 112 + 2 * path;
        assert_eq!(offset_of!(StateEvent, ancestors), ancestors);
        assert_eq!(
            size_of::<StateEvent>(),
            ancestors + ANCESTORS_MAX * size_of::<AncestorEvent>()
        );
        assert_eq!(size_of::<StateKey>(), 16);
    }

    #[test]
    fn exit_event() {
        assert_eq!(offset_of!(ExitEvent, exit_code), 12);
        assert_eq!(offset_of!(ExitEvent, boot_ns), 16);
        assert_eq!(size_of::<ExitEvent>(), 24);
    }

    #[test]
    fn map_types() {
        assert_eq!(offset_of!(NameValue, len), 4);
        assert_eq!(size_of::<NameValue>(), 8);
        assert_eq!(offset_of!(InodeKey, ino), 8);
        assert_eq!(size_of::<InodeKey>(), 16);
        assert_eq!(size_of::<ElfKey>(), ELF_KEY_LEN);
        assert_eq!(size_of::<KernelOffsets>(), 32 * 4);
        assert_eq!(size_of::<CaptureOffsets>(), 11 * 4);
        assert_eq!(size_of::<ScanOffsets>(), 8 * 4);
        assert_eq!(size_of::<scan::ArgScan>(), 6 * 4);
    }

    /// Whatever user space's whole rule allows, the kernel's one-byte
    /// checks pass, for every kind and many rests.
    #[test]
    fn the_kernel_byte_checks_cover_the_whole_rule() {
        let rests: &[&[u8]] = &[
            b"",
            b"3",
            b"3.11",
            b"-3",
            b"-x",
            b"x",
            b".__main__",
            b"-",
            b".",
            b"3x",
            b"--1",
            b"_x",
            b"-cli.js",
            b"1.22.3",
        ];
        for kind in [suffix::EXACT, suffix::VERSION, suffix::ANY] {
            for rest in rests {
                let next = rest.first().copied().unwrap_or(0);
                if suffix::allows(kind, rest) {
                    assert!(suffix::next_allows(kind, next), "{kind} {rest:?}");
                    assert!(suffix::arg_next_allows(kind, next), "{kind} {rest:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod state_rules {
    use super::state::*;

    #[test]
    fn each_rule_matches_its_places() {
        let cases: &[(&str, u32)] = &[
            ("/var/lib/dpkg/status-new", DPKG_STATUS),
            ("/target/var/lib/dpkg/status-new", DPKG_STATUS),
            ("/var/lib/dpkg/updates/0003", DPKG_UPDATES),
            (
                "/usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA",
                DIST_INFO,
            ),
            (
                "/v/lib/python3.11/site-packages/a-1.dist-info/RECORD",
                DIST_INFO,
            ),
            ("/v/site-packages/a_b-1.0.egg-info/PKG-INFO", EGG_INFO),
            (
                "/usr/lib/python3/dist-packages/bcc-0.26.0.egg-info",
                SITE_MODULE,
            ),
            ("/v/lib/python3.11/site-packages/evil.pth", SITE_MODULE),
            ("/v/lib/python3.11/site-packages/six.py", SITE_MODULE),
            (
                "/v/lib/python3.11/site-packages/requests/api.py",
                SITE_PACKAGE,
            ),
            ("/p/node_modules/left-pad/package.json", NPM_PACKAGE),
            ("/p/node_modules/@types/node/package.json", NPM_PACKAGE),
            ("/p/node_modules/a/node_modules/b/package.json", NPM_PACKAGE),
            ("/p/node_modules/.package-lock.json", NPM_LOCK),
            ("/root/.cargo/.crates2.json", CARGO),
            (
                "/var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
                GEM_SPEC,
            ),
            ("/var/lib/rpm/rpmdb.sqlite", RPM_DB),
            ("/var/lib/rpm/rpmdb.sqlite-wal", RPM_DB),
            ("/var/lib/rpm/Packages", RPM_DB),
        ];
        for (path, rule) in cases {
            assert_eq!(rule_of_path(path.as_bytes()), *rule, "{path}");
        }
    }

    #[test]
    fn look_alikes_match_nothing() {
        for path in [
            "/var/lib/dpkg/status",
            "/var/lib/dpkg/status-old",
            "/var/lib/dpkg/info/bash.list",
            "/home/u/dist-info/METADATA",
            "/tmp/six-1.16.0/six.egg-info/PKG-INFO",
            "/src/build/bdist.linux-x86_64/wheel/a-1.dist-info/METADATA",
            "/v/site-packages/__pycache__/six.cpython-311.pyc",
            "/v/site-packages/requests/sub/x.py",
            "/home/u/xist-info/METADATA",
            "/v/a.dist-infox/METADATA",
            "/v/.egg-info/PKG-INFO",
            "/p/package.json",
            "/p/src/package.json",
            "/p/node_modules/package.json",
            "/p/node_modules/a/lib/package.json",
            "/p/node_modules/a/.package-lock.json",
            "/specifications/.gemspec",
            "/x/specifications/a.gemspec.bak",
            "/var/lib/rpm/other.sqlite",
            "/usr/local/bin/tool",
            "package.json",
            "",
        ] {
            assert_eq!(rule_of_path(path.as_bytes()), 0, "{path}");
        }
    }

    #[test]
    fn path_folder_names() {
        assert!(may_be_path_dir(&place_of(b"/usr/local/bin/x")));
        assert!(may_be_path_dir(&place_of(b"/usr/sbin/x")));
        assert!(!may_be_path_dir(&place_of(b"/usr/lib/x")));
        assert!(!may_be_path_dir(&place_of(b"/usr/binx/x")));
    }
}
