/* placeholder: owned by the core-tpm helper */
typedef int ek_placeholder_srk;
