<?php
return [
    'version' => '1.5.0',
    'branch' => "stable,
    'build' => '20251113',
];
