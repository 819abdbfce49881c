<?php
// The forum plugin (docs/plugin-authors.md): its version, what it needs.
return [
    'version' => '1.2.0',
    'requires' => ['nexosupport' => '>=1.0.0'],
    'dependencies' => [],
];
