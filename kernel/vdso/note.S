/* The vDSO's ELF note: name "Linux", type 0 (LINUX_VERSION_CODE), as Linux's vdso-note.S; glibc
 * reads it to know the vDSO's kernel version. 0x060100: the Linux ABI kentry follows (6.1). */
	.section .note.Linux, "a", @note
	.balign 4
	.long 2f - 1f
	.long 4f - 3f
	.long 0
1:	.asciz "Linux"
2:	.balign 4
3:	.long 0x060100
4:	.balign 4
	.section .note.GNU-stack, "", @progbits
