"""Names shared by signing, exporting and verifying, kept apart so that an unsigned export or
verify never pays for importing asyncssh."""

NAMESPACE = "iact-tui-report"  # the SSHSIG namespace of every report signature
SIG_SUFFIX = ".sig"  # FILE.sig next to FILE, as ssh-keygen -Y sign writes it
