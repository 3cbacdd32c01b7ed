//! `tidewatch detect` and `evaluate`: the model over one CSV series, and its quality on
//! labelled data.
