//! Mail transport over lettre: `smtp`, `file` (.eml) and `log`.
