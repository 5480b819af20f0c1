//! Bridges and addresses, reconciled with rtnetlink.
