/* placeholder: owned by the core-data helper */
typedef int ek_placeholder_log;
