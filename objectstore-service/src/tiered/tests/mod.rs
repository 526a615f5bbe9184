//! Tests of the tiered engine.
