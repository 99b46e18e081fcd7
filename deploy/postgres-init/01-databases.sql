-- Run once by the postgres image when its data volume is new (docker-entrypoint-initdb.d).
-- One database per service; `parley serve` creates the tables (migrations) at start.
CREATE DATABASE parley_user;
CREATE DATABASE parley_chat;
