"""Custom actions (rasa_sdk): thin glue between Rasa and the misybot core."""
