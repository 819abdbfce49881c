<?php
// Windows line endings
return [
    'version' => '1.0.0',
    'notes' => "line one
line two",
];
