-- 013: a project's licence (SPDX / Hugging Face licence id), written to the dataset card of its exports.
ALTER TABLE projects ADD COLUMN license VARCHAR;
