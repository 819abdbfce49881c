<?php
// The forum plugin's code (example).
function forum_version(): string { return (require __DIR__ . '/../version.php')['version']; }
